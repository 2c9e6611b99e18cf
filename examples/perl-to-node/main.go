// Command perl-to-node proxies a Perl function into Node.js through Go: the
// JavaScript code calls slugify() as if it were its own, the call travels
// JavaScript -> Go -> Perl and the result comes back the same way.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/sandbond/sandbond/bond"
)

const perlLib = `
sub slugify {
    my ($s) = @_;
    $s = lc $s;
    $s =~ s/[^a-z0-9]+/-/g;
    $s =~ s/^-+|-+$//g;
    return $s;
}
`

const nodeApp = `
function makeLinks(titles) {
    return titles.map(function (t) { return "/posts/" + slugify(t); });
}
`

func run(ctx context.Context, w io.Writer) error {
	perl, err := bond.Open(ctx, "perl", nil)
	if err != nil {
		return err
	}
	defer perl.Close()
	node, err := bond.Open(ctx, "node", nil)
	if err != nil {
		return err
	}
	defer node.Close()
	if err := perl.EvalBlock(ctx, perlLib); err != nil {
		return err
	}
	if err := perl.Proxy(ctx, "slugify", node, "slugify"); err != nil {
		return err
	}
	if err := node.EvalBlock(ctx, nodeApp); err != nil {
		return err
	}
	links, err := bond.CallAs[[]string](ctx, node, "makeLinks",
		[]string{"Hello, World!", "Perl & Node: friends?", "  Go in the middle  "})
	if err != nil {
		return err
	}
	for _, l := range links {
		fmt.Fprintln(w, l)
	}
	return nil
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		log.Fatal(err)
	}
}
