package sandbox

import (
	"context"

	"github.com/sandbond/sandbond/policy"
)

// Callable returns a typed Go function backed by a warm [Pool] of
// sandboxed interpreters: each call runs function (a name or expression in
// lang, with args as its arguments) in a container built from profile, and
// decodes its JSON result into T.
//
//	decode, err := sandbox.Callable[Result](ctx, profiles.Decoder(), "python",
//		"from mylib import decode_file", "decode_file")
//	res, err := decode(ctx, path)
//
// lang overrides profile.Language when not empty; setup runs once in each
// new worker (imports, definitions). Callable returns once the pool's
// min_idle workers are ready, or with the error that prevented it (a bad
// profile, a sandbox that cannot start, setup code that fails).
//
// The pool lives until ctx is done; then it is closed (calls in progress
// finish, later calls fail with [ErrPoolClosed]). With a ctx that is never
// done, the pool lives as long as the program: use [NewPool] to control its
// life. Errors are those of [Pool].
func Callable[T any](ctx context.Context, profile *policy.Profile, lang, setup, function string) (func(ctx context.Context, args ...any) (T, error), error) {
	p, err := NewPool(ctx, PoolConfig{Profile: profile, Language: lang, Setup: setup, Function: function})
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { _ = p.Close() })
	return func(ctx context.Context, args ...any) (T, error) { return CallAs[T](ctx, p, args...) }, nil
}
