package main

import (
	"errors"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// benchProfiles names the profiles bench-daemon takes of a measured row;
// an empty name skips that profile.
type benchProfiles struct {
	cpu, block, mutex, trace string
}

// start starts the profiles; stop ends them and writes their files.
func (bp *benchProfiles) start() (stop func() error, err error) {
	if bp == nil {
		return func() error { return nil }, nil
	}
	var stops []func() error
	stopAll := func() error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		return errors.Join(errs...)
	}
	if bp.cpu != "" {
		f, err := os.Create(bp.cpu)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		stops = append(stops, func() error { pprof.StopCPUProfile(); return f.Close() })
	}
	if bp.trace != "" {
		f, err := os.Create(bp.trace)
		if err != nil {
			_ = stopAll()
			return nil, err
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			_ = stopAll()
			return nil, err
		}
		stops = append(stops, func() error { trace.Stop(); return f.Close() })
	}
	if bp.block != "" {
		runtime.SetBlockProfileRate(1)
		stops = append(stops, func() error {
			defer runtime.SetBlockProfileRate(0)
			return writeProfile("block", bp.block)
		})
	}
	if bp.mutex != "" {
		runtime.SetMutexProfileFraction(1)
		stops = append(stops, func() error {
			defer runtime.SetMutexProfileFraction(0)
			return writeProfile("mutex", bp.mutex)
		})
	}
	return stopAll, nil
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
