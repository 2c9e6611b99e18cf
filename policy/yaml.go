package policy

import (
	"bytes"
	"errors"
	"io"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// yamlToJSON converts one YAML document to JSON, refusing duplicate keys
// and further non-empty documents.
func yamlToJSON(data []byte) ([]byte, error) {
	dec := yamlv2.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			if i == 0 {
				return nil, errEmpty
			}
			break
		}
		if err != nil {
			return nil, cleanYAMLError(err)
		}
		if i > 0 && v != nil {
			return nil, errors.New("the file holds more than one YAML document (a second one follows \"---\")")
		}
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, cleanYAMLError(err)
	}
	if string(j) == "null" {
		return nil, errEmpty
	}
	return j, nil
}

// cleanYAMLError rewords the YAML library's errors for people.
func cleanYAMLError(err error) error {
	s := err.Error()
	s = strings.TrimPrefix(s, "error converting YAML to JSON: ")
	s = strings.TrimPrefix(s, "yaml: ")
	s = strings.ReplaceAll(s, "unmarshal errors:\n  ", "")
	s = strings.ReplaceAll(s, "\n  ", "; ")
	s = strings.ReplaceAll(s, "already set in map", "appears twice")
	return errors.New("invalid YAML: " + s)
}
