package bond

// callLine and returnLine build lines as a bond without a side channel
// does, for tests of the wire format.
func callLine(id int64, name string, args []any) ([]byte, error) {
	o, err := (&Bond{}).newReq("call", id).str("name", name).args("args", args).done()
	if err != nil {
		return nil, err
	}
	return o.line, nil
}

func returnLine(id int64, v any) ([]byte, error) {
	o, err := (&Bond{}).returnLine(id, v)
	if err != nil {
		return nil, err
	}
	return o.line, nil
}
