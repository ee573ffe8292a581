package submission

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"reflect"
	"unsafe"

	"github.com/emersion/go-smtp"
)

// This file reaches into three unexported fields of go-smtp v0.25.1, the
// version go.mod pins, where its DATA and BDAT handling cannot be wrapped
// from outside (TestGoSMTPInternals fails if an upgrade moves them):
//
//   - Conn.lineLimitReader (R, LineLimit): go-smtp counts line length on
//     raw bytes as they are read ahead into its buffer, command or chunk
//     data alike, so a pipelined BDAT chunk with a long line is refused or
//     not depending on TCP segmentation. We put a framer between it and the
//     connection, which applies one rule by protocol state, and keep
//     go-smtp's own count off.
//   - Conn.text: its buffer must be empty when the framer starts, or the
//     framer would misread the protocol state. Its Writer's W (exported)
//     is replaced by one that writes to Conn.Conn() through ehloWriter,
//     which adds our EHLO keywords: go-smtp writes every reply through
//     it, to that connection.
//   - dataReader.limited: go-smtp refuses a DATA message of exactly
//     MaxMessageBytes (it checks the remaining budget before reading the
//     final dot), so the limit is counted by inputReader instead.
//   - dataReader.r and dataReader.state: go-smtp's DATA reader calls
//     ReadByte for every octet; dotReader reads the same buffer in runs
//     and keeps its state in dataReader's, for go-smtp to read the rest
//     of a refused message from.
//
// A field that is not there (another go-smtp version) makes hook fail
// cleanly, never panic.

// errInternals is returned when go-smtp's internals are not as expected.
var errInternals = errors.New("submission: go-smtp internals changed (see gosmtp.go)")

// field returns a settable view of the unexported field name of the struct
// v points to.
func field(v reflect.Value, name string) (reflect.Value, error) {
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, errInternals
	}
	f := v.Elem().FieldByName(name)
	if !f.IsValid() {
		return reflect.Value{}, fmt.Errorf("%w: no field %s", errInternals, name)
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem(), nil
}

// connHooks are the parts of an *smtp.Conn the framer needs.
type connHooks struct {
	raw       io.Reader // what go-smtp reads from: the (TLS) connection
	setRaw    func(io.Reader)
	lineLimit *int
	text      *textproto.Conn
}

// hooksOf finds c's line reader and text buffer.
func hooksOf(c *smtp.Conn) (*connHooks, error) {
	llr, err := field(reflect.ValueOf(c), "lineLimitReader")
	if err != nil {
		return nil, err
	}
	if llr.Kind() != reflect.Pointer || llr.IsNil() {
		return nil, errInternals
	}
	r := llr.Elem().FieldByName("R")
	limit := llr.Elem().FieldByName("LineLimit")
	if !r.IsValid() || !limit.IsValid() || limit.Kind() != reflect.Int ||
		r.Type() != reflect.TypeFor[io.Reader]() {
		return nil, fmt.Errorf("%w: lineLimitReader", errInternals)
	}
	tf, err := field(reflect.ValueOf(c), "text")
	if err != nil {
		return nil, err
	}
	text, ok := tf.Interface().(*textproto.Conn)
	if !ok || text == nil {
		return nil, fmt.Errorf("%w: text", errInternals)
	}
	raw, _ := r.Interface().(io.Reader)
	return &connHooks{
		raw:       raw,
		setRaw:    func(nr io.Reader) { r.Set(reflect.ValueOf(&nr).Elem()) },
		lineLimit: limit.Addr().Interface().(*int),
		text:      text,
	}, nil
}

// unlimitData turns off go-smtp's own size limit on a DATA reader; a BDAT
// reader (an *io.PipeReader) has none. inputReader counts instead.
func unlimitData(r io.Reader) error {
	if _, ok := r.(*io.PipeReader); ok {
		return nil
	}
	f, err := field(reflect.ValueOf(r), "limited")
	if err != nil {
		return err
	}
	if f.Kind() != reflect.Bool {
		return fmt.Errorf("%w: dataReader.limited", errInternals)
	}
	f.SetBool(false)
	return nil
}

// dataStateOf returns the buffered reader a DATA reader reads from and its
// state, for dotReader.
func dataStateOf(r io.Reader) (*bufio.Reader, *int, error) {
	br, err := field(reflect.ValueOf(r), "r")
	if err != nil {
		return nil, nil, err
	}
	state, err := field(reflect.ValueOf(r), "state")
	if err != nil {
		return nil, nil, err
	}
	buf, ok := br.Interface().(*bufio.Reader)
	if !ok || buf == nil || state.Kind() != reflect.Int {
		return nil, nil, fmt.Errorf("%w: dataReader.r, state", errInternals)
	}
	return buf, state.Addr().Interface().(*int), nil
}
