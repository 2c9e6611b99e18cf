package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/sandbox"
)

// Error kinds of the API, and the HTTP status each is sent with:
//
//	kind           status  meaning
//	remote         502     the function raised an exception (type, language, traceback)
//	limit          502     a limit of the profile stopped the worker (limit: memory, pids,
//	                       cpu, wall, file_size, output)
//	seccomp        502     the seccomp filter killed the worker (syscall, when known)
//	terminated     502     the worker died or broke the protocol
//	serialization  502     the result cannot cross (400 when an argument cannot)
//	timeout        504     the call ran past the profile's wall time per call (limit: wall)
//	overload       503     no worker free within the queue timeout, or the daemon is
//	                       draining; with Retry-After
//	bad_request    400     the body is not {"args": [...]} (413 when too large,
//	                       405 for a wrong method)
//	not_found      404     no such callable, or the caller may not use it (the same answer)
//	canceled       499     the client went away before the answer (never seen by it)
//	internal       500     a bug in sandboxd
//
// 502 says that the daemon is fine and the sandboxed code (the "upstream")
// failed; the kind says how.
const (
	kindRemote        = "remote"
	kindLimit         = "limit"
	kindSeccomp       = "seccomp"
	kindTerminated    = "terminated"
	kindSerialization = "serialization"
	kindTimeout       = "timeout"
	kindOverload      = "overload"
	kindBadRequest    = "bad_request"
	kindNotFound      = "not_found"
	kindCanceled      = "canceled"
	kindInternal      = "internal"
)

// statusClientClosed is nginx's status for a client that went away.
const statusClientClosed = 499

// retryAfterSeconds is the Retry-After of overload answers.
const retryAfterSeconds = "1"

// retryAfter reports whether the answer of e carries Retry-After: an
// overload answer does.
func (e *apiError) retryAfter() bool { return e != nil && e.Kind == kindOverload }

// setRetryAfter sets Retry-After in h when the answer of e carries it.
func setRetryAfter(h http.Header, e *apiError) {
	if e.retryAfter() {
		h.Set("Retry-After", retryAfterSeconds)
	}
}

// internalErrorBody is the body of an answer that cannot be encoded.
const internalErrorBody = `{"error":{"kind":"internal","message":"cannot encode the answer"}}`

// limitOutput names the output limit (a bond limit, not a sandbox one).
const limitOutput = "output"

// classify turns an error of a call into the API's typed error.
func classify(err error) *apiError {
	var (
		remote *bond.RemoteError
		limit  *sandbox.LimitError
		sc     *sandbox.SeccompError
		ser    *bond.SerializationError
	)
	isLimit := errors.As(err, &limit)
	switch {
	case errors.Is(err, errOverloaded):
		return &apiError{Status: http.StatusServiceUnavailable, Kind: kindOverload, Message: "no worker became free within the queue timeout; retry later"}
	case errors.Is(err, errPoolClosed), errors.Is(err, errDraining):
		return &apiError{Status: http.StatusServiceUnavailable, Kind: kindOverload, Message: "sandboxd is shutting down or reloading; retry"}
	case errors.Is(err, context.DeadlineExceeded):
		// Also a remote KeyboardInterrupt that the interrupt at the
		// deadline caused, and the pool's wall-time *LimitError.
		e := &apiError{Status: http.StatusGatewayTimeout, Kind: kindTimeout, Message: "the call ran past its time limit (the profile's limits.wall_per_call)"}
		if isLimit {
			e.Limit = limit.Limit
		}
		return e
	case errors.As(err, &remote):
		return &apiError{Status: http.StatusBadGateway, Kind: kindRemote, Message: remote.Message,
			Type: remote.Type, Language: remote.Language, Traceback: remote.Traceback}
	case isLimit:
		return &apiError{Status: http.StatusBadGateway, Kind: kindLimit, Limit: limit.Limit, Message: limit.Error()}
	case errors.As(err, &sc):
		return &apiError{Status: http.StatusBadGateway, Kind: kindSeccomp, Syscall: sc.Syscall, Message: sc.Error()}
	case errors.Is(err, bond.ErrOutputLimit):
		return &apiError{Status: http.StatusBadGateway, Kind: kindLimit, Limit: limitOutput, Message: "the worker printed more than the profile's limits.output_bytes"}
	case errors.Is(err, context.Canceled):
		return &apiError{Status: statusClientClosed, Kind: kindCanceled, Message: "the call was cancelled"}
	case errors.As(err, &ser):
		if ser.Side == bond.Local {
			return &apiError{Status: http.StatusBadRequest, Kind: kindSerialization, Message: ser.Error(), Type: ser.Type}
		}
		return &apiError{Status: http.StatusBadGateway, Kind: kindSerialization, Message: ser.Error(), Type: ser.Type, Language: ser.Language}
	case errors.Is(err, bond.ErrTerminated), errors.Is(err, bond.ErrProtocol), errors.Is(err, bond.ErrClosed):
		return &apiError{Status: http.StatusBadGateway, Kind: kindTerminated, Message: err.Error()}
	}
	return &apiError{Status: http.StatusInternalServerError, Kind: kindInternal, Message: err.Error()}
}

// errDraining refuses calls while the daemon shuts down.
var errDraining = errors.New("draining")
