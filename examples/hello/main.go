// Command hello is a short tour of a bond: Go calls Python, Python calls Go
// back, output and exceptions come home.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/sandbond/sandbond/bond"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, w io.Writer) error {
	b, err := bond.Open(ctx, "python", &bond.Options{Stdout: w, Stderr: w})
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintln(w, "bond to", b.Info())

	v, err := b.Eval(ctx, "2 ** 100")
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "2 ** 100 =", v)

	// Go exports a function; Python calls it, and it calls Python again.
	err = b.Export(ctx, "go_fib", func(ctx context.Context, args []any) (any, error) {
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
	})
	if err != nil {
		return err
	}
	if err := b.EvalBlock(ctx, "def fib(n):\n    print('python computes fib(%d)' % n) if n == 10 else None\n    return go_fib(n)"); err != nil {
		return err
	}
	fib, err := bond.CallAs[int](ctx, b, "fib", 10)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "fib(10), through Go and Python in turns =", fib)

	_, err = b.Eval(ctx, "{}['missing']")
	var re *bond.RemoteError
	if errors.As(err, &re) {
		fmt.Fprintf(w, "a Python exception comes back typed: %s (%s)\n", re.Type, re.Message)
	}
	n, err := b.Call(ctx, "len", bond.NewRef("[x * x for x in range(10)]"))
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "a list built in Python and passed by reference has length", n)
	return nil
}
