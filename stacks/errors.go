package stacks

import (
	"errors"
	"fmt"
)

// ErrInvalidSpec: the request does not describe a valid environment. Nothing ran. Every error
// for it is a struct error below that matches it and carries the details.
var ErrInvalidSpec = errors.New("invalid environment spec")

// DecodeError is a request body that is not a well-formed spec document. It matches ErrInvalidSpec.
type DecodeError struct{ Err error }

func (e *DecodeError) Error() string        { return "malformed environment spec: " + e.Err.Error() }
func (e *DecodeError) Unwrap() error        { return e.Err }
func (e *DecodeError) Is(target error) bool { return target == ErrInvalidSpec }

// InvalidSpecError lists every problem of a spec: its name and its configuration (the
// configuration's *ValidationError is reachable with errors.As when there is one).
type InvalidSpecError struct {
	Name     string
	Problems Problems
	// Err is the configuration's *ValidationError, if the configuration had problems.
	Err error
}

func (e *InvalidSpecError) Error() string {
	return e.Problems.describe(fmt.Sprintf("invalid environment spec %q", e.Name))
}

func (e *InvalidSpecError) Unwrap() error        { return e.Err }
func (e *InvalidSpecError) Is(target error) bool { return target == ErrInvalidSpec }
