// Command php-migration calls a legacy PHP library from Go after moving one
// of its functions, tax_for, to Go: the PHP code calls the Go function
// without knowing, and the old PHP implementation checks the new one.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/sandbond/sandbond/bond"
)

//go:embed legacy/invoice.php
var invoicePHP string

//go:embed legacy/tax.php
var taxPHP string

var rates = map[string]int64{"de": 19, "fr": 20, "us-ny": 8}

// taxFor is the Go replacement of the PHP tax_for().
func taxFor(_ context.Context, args []any) (any, error) {
	cents, ok := args[0].(int64)
	region, ok2 := args[1].(string)
	if len(args) != 2 || !ok || !ok2 {
		return nil, fmt.Errorf("tax_for(int cents, string region): got %v", args)
	}
	rate, found := rates[region]
	if !found {
		return nil, fmt.Errorf("unknown region %s", region)
	}
	return (cents*rate + 50) / 100, nil
}

func run(ctx context.Context, w io.Writer) error {
	app, err := bond.Open(ctx, "php", nil)
	if err != nil {
		return err
	}
	defer app.Close()
	if err := app.Export(ctx, "tax_for", taxFor); err != nil {
		return err
	}
	if err := app.EvalBlock(ctx, invoicePHP); err != nil {
		return err
	}
	old, err := bond.Open(ctx, "php", nil) // the legacy implementation, for checking
	if err != nil {
		return err
	}
	defer old.Close()
	if err := old.EvalBlock(ctx, taxPHP); err != nil {
		return err
	}
	items := []map[string]int{{"cents": 1999, "qty": 3}, {"cents": 250, "qty": 4}}
	for _, region := range []string{"de", "fr", "us-ny"} {
		total, err := bond.CallAs[map[string]string](ctx, app, "invoice_total", items, region)
		if err != nil {
			return err
		}
		goTax, _ := taxFor(ctx, []any{int64(6997), region})
		phpTax, err := bond.CallAs[int64](ctx, old, "tax_for", 6997, region)
		if err != nil {
			return err
		}
		if goTax != phpTax {
			return fmt.Errorf("region %s: Go tax %v differs from PHP's %v", region, goTax, phpTax)
		}
		fmt.Fprintf(w, "%-6s net %s tax %s total %s (Go and PHP agree on the tax)\n", region, total["net"], total["tax"], total["total"])
	}
	// A Go error reaches the PHP caller as an exception, and comes back typed.
	_, err = app.Call(ctx, "invoice_total", items, "mars")
	fmt.Fprintf(w, "unknown region: %v\n", err)
	return nil
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		log.Fatal(err)
	}
}
