package bond

// MarshalValue encodes a Go value by the bond's type table (see the
// package documentation): the JSON a bond would send for it. It fails with
// a *SerializationError for values that cannot travel.
func MarshalValue(v any) ([]byte, error) {
	e := encoder{}
	if err := e.value(v, 0); err != nil {
		return nil, err
	}
	return e.buf, nil
}

// UnmarshalValue decodes JSON by the bond's type table, as strictly as the
// bond decodes what an interpreter sends: exact integers, valid Unicode,
// tagged bytes, no duplicate keys. Errors match ErrProtocol.
func UnmarshalValue(data []byte) (any, error) {
	return (&parser{data: data}).document()
}
