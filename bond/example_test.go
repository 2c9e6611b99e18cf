package bond_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sandbond/sandbond/bond"
)

func Example() {
	ctx := context.Background()
	py, err := bond.Open(ctx, "python", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer py.Close()

	if err := py.EvalBlock(ctx, "import math\ndef hyp(a, b):\n    return math.sqrt(a*a + b*b)"); err != nil {
		log.Fatal(err)
	}
	v, err := py.Eval(ctx, "hyp(3, 4)")
	fmt.Println(v, err)
	// Output: 5 <nil>
}

func ExampleBond_Call() {
	ctx := context.Background()
	py, err := bond.Open(ctx, "python", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer py.Close()

	// A name or any expression that yields something callable; integers
	// of any size travel exactly.
	v, err := py.Call(ctx, "pow", 2, 100)
	fmt.Println(v, err)
	v, err = py.Call(ctx, "lambda s: s.upper()", "hello")
	fmt.Println(v, err)
	// A Ref is evaluated remotely and never crosses the bond.
	v, err = py.Call(ctx, "len", bond.NewRef("list(range(7))"))
	fmt.Println(v, err)
	// Output:
	// 1267650600228229401496703205376 <nil>
	// HELLO <nil>
	// 7 <nil>
}

func ExampleBond_Export() {
	ctx := context.Background()
	py, err := bond.Open(ctx, "python", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer py.Close()

	// fact in Go calls fact in Python, which calls fact in Go, and so on.
	err = py.Export(ctx, "go_fact", func(ctx context.Context, args []any) (any, error) {
		n := args[0].(int64)
		if n <= 1 {
			return int64(1), nil
		}
		v, err := py.Call(ctx, "py_fact", n-1) // nests: same ctx
		if err != nil {
			return nil, err
		}
		return n * v.(int64), nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := py.EvalBlock(ctx, "def py_fact(n):\n    return 1 if n <= 1 else n * go_fact(n - 1)"); err != nil {
		log.Fatal(err)
	}
	v, err := py.Call(ctx, "py_fact", 20)
	fmt.Println(v, err)
	// Output: 2432902008176640000 <nil>
}

func ExampleBond_Proxy() {
	ctx := context.Background()
	a, err := bond.Open(ctx, "python", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := bond.Open(ctx, "python", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	if err := a.EvalBlock(ctx, "def greet(name):\n    return 'hello, ' + name"); err != nil {
		log.Fatal(err)
	}
	// a's greet becomes b's hello: b calls it through Go.
	if err := a.Proxy(ctx, "greet", b, "hello"); err != nil {
		log.Fatal(err)
	}
	v, err := b.Eval(ctx, "hello('bond').title()")
	fmt.Println(v, err)
	// Output: Hello, Bond <nil>
}

func ExampleEvalAs() {
	ctx := context.Background()
	py, err := bond.Open(ctx, "python", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer py.Close()

	type version struct {
		Major int    `json:"major"`
		Name  string `json:"name"`
	}
	v, err := bond.EvalAs[version](ctx, py, "{'major': __import__('sys').version_info[0], 'name': 'python'}")
	fmt.Printf("%+v %v\n", v, err)
	// Output: {Major:3 Name:python} <nil>
}

func ExampleBond_New() {
	ctx := context.Background()
	py, err := bond.Open(ctx, "python", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer py.Close()

	// The date stays in the interpreter; Go holds a handle to it.
	d, err := py.New(ctx, "__import__('datetime').date", 1923, 4, 2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Call(ctx, "isoformat"))
	fmt.Println(d.Get(ctx, "year"))
	later, err := d.CallKeep(ctx, "replace", 1924)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(later.Op(ctx, bond.OpGt, d))
	// A handle passed back arrives as the live object.
	fmt.Println(py.Call(ctx, "lambda x: type(x).__name__", d))
	fmt.Println(d.Value(ctx)) // the JSON form: isoformat()
	fmt.Println(d.Release(ctx))
	// Output:
	// 1923-04-02 <nil>
	// 1923 <nil>
	// true <nil>
	// date <nil>
	// 1923-04-02 <nil>
	// <nil>
}

func ExampleBond_Iter() {
	ctx := context.Background()
	py, err := bond.Open(ctx, "python", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer py.Close()

	// Items arrive in chunks of 2 as the loop asks for them; breaking out
	// stops the generator.
	for v, err := range py.Iter(ctx, "(n * n for n in __import__('itertools').count(1))", 2) {
		if err != nil {
			log.Fatal(err)
		}
		if v.(int64) > 30 {
			break
		}
		fmt.Print(v, " ")
	}
	fmt.Println()
	// Output: 1 4 9 16 25
}
