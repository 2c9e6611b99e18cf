package drivers_test

import (
	"context"
	"fmt"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/drivers"
)

// A program that starts many short-lived bonds can build the drivers'
// host-side caches before the first one. For PHP that is the opcache file
// cache of stage 2, which the next starts include instead of compiling.
func ExampleDriver_Prepare() {
	ctx := context.Background()
	d, err := drivers.Lookup("php")
	if err != nil {
		panic(err)
	}
	interp, err := d.ResolveInterpreter(ctx, d.Command)
	if err != nil {
		panic(err)
	}
	if err := d.Prepare(ctx, interp); err != nil {
		fmt.Println("no cache, the source then:", err)
	}
	b, err := bond.Open(ctx, "php", nil)
	if err != nil {
		panic(err)
	}
	defer b.Close()
	n, err := b.Eval(ctx, "count(get_included_files())") // the cached stage 2
	fmt.Println(n, err)
	// Output: 1 <nil>
}
