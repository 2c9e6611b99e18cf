// Command hello is a short tour of a bond: Go calls Python, Python calls Go
// back, output and exceptions come home.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/sandbond/sandbond/bond"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := bond.Open(ctx, "python", &bond.Options{Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	fmt.Println("bond to", b.Info())

	v, err := b.Eval(ctx, "2 ** 100")
	check(err)
	fmt.Println("2 ** 100 =", v)

	// Go exports a function; Python calls it, and it calls Python again.
	check(b.Export(ctx, "go_fib", func(ctx context.Context, args []any) (any, error) {
		n := args[0].(int64)
		if n < 2 {
			return n, nil
		}
		a, err := bond.CallAs[int64](ctx, b, "fib", n-1)
		if err != nil {
			return nil, err
		}
		c, err := bond.CallAs[int64](ctx, b, "fib", n-2)
		return a + c, err
	}))
	check(b.EvalBlock(ctx, "def fib(n):\n    print('python computes fib(%d)' % n) if n == 10 else None\n    return go_fib(n)"))
	fib, err := bond.CallAs[int](ctx, b, "fib", 10)
	check(err)
	fmt.Println("fib(10), through Go and Python in turns =", fib)

	_, err = b.Eval(ctx, "{}['missing']")
	var re *bond.RemoteError
	if errors.As(err, &re) {
		fmt.Printf("a Python exception comes back typed: %s (%s)\n", re.Type, re.Message)
	}
	n, err := b.Call(ctx, "len", bond.NewRef("open('/etc/hostname')"+".read()"))
	check(err)
	fmt.Println("length of /etc/hostname, read in Python:", n)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
