package render

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"text/template/parse"
)

// The language files are text/template syntax, parsed by text/template's
// own parser, and executed here rather than by text/template. Its executor
// looks methods up by name at run time (reflect.Value.MethodByName), and a
// program that can do that keeps every exported method of every type it
// uses: the linker's dead-code elimination gives up. With it, the agent's
// binary was 90 MB instead of 50, client-go's every typed client, informer,
// lister and apply configuration linked in, and about 20 MiB more of it
// resident (BENCHMARKS.md). The templates only read fields of the plain
// structs of texts.go, so this executor reads fields and nothing else.
//
// It runs the subset the language files use, with text/template's
// semantics: text, actions that print a value as text/template prints it
// (fmt.Fprint), if / else if / else, range over a slice or array (with
// else), parenthesized pipelines, and the functions eq, and, or, not, len,
// index and join (strings.Join). Variables, with, template calls and other
// functions fail when the file is loaded, naming them; a method or a map
// key where a field is expected is an error of the text that reads it.

// langTemplates are one language's templates, by name.
type langTemplates map[string]*parse.Tree

// templateFuncs are the functions the templates may call. The parser only
// checks the names; call runs them.
var templateFuncs = map[string]any{
	"eq": true, "and": true, "or": true, "not": true, "len": true, "index": true, "join": true,
}

// parseLanguage parses one language file named name.
func parseLanguage(name, text string) (langTemplates, error) {
	trees, err := parse.Parse(name, text, "", "", templateFuncs)
	if err != nil {
		return nil, err
	}
	for tname, tree := range trees {
		if err := checkNodes(tree.Root); err != nil {
			return nil, fmt.Errorf("template %s: %w", tname, err)
		}
	}
	return trees, nil
}

// checkNodes refuses what exec does not run.
func checkNodes(n parse.Node) error {
	switch n := n.(type) {
	case nil:
		return nil
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNodes(c); err != nil {
				return err
			}
		}
	case *parse.TextNode, *parse.CommentNode:
	case *parse.ActionNode:
		return checkPipe(n.Pipe)
	case *parse.IfNode:
		return checkBranch(&n.BranchNode)
	case *parse.RangeNode:
		return checkBranch(&n.BranchNode)
	default:
		return fmt.Errorf("%s: not supported by the renderer", n)
	}
	return nil
}

func checkBranch(b *parse.BranchNode) error {
	if err := checkPipe(b.Pipe); err != nil {
		return err
	}
	if err := checkNodes(b.List); err != nil {
		return err
	}
	return checkNodes(b.ElseList)
}

func checkPipe(p *parse.PipeNode) error {
	if len(p.Decl) > 0 {
		return fmt.Errorf("%s: variables are not supported by the renderer", p)
	}
	for _, c := range p.Cmds {
		for _, a := range c.Args {
			switch a := a.(type) {
			case *parse.FieldNode, *parse.DotNode, *parse.IdentifierNode, *parse.StringNode,
				*parse.NumberNode, *parse.BoolNode, *parse.NilNode:
			case *parse.PipeNode:
				if err := checkPipe(a); err != nil {
					return err
				}
			default:
				return fmt.Errorf("%s: not supported by the renderer", a)
			}
		}
	}
	return nil
}

// execute renders the template name of t with data into b.
func (t langTemplates) execute(b *strings.Builder, name string, data any) error {
	tree := t[name]
	if tree == nil {
		return fmt.Errorf("no template %q", name)
	}
	return walk(b, tree.Root, reflect.ValueOf(data))
}

func walk(b *strings.Builder, n parse.Node, dot reflect.Value) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := walk(b, c, dot); err != nil {
				return err
			}
		}
	case *parse.TextNode:
		b.Write(n.Text)
	case *parse.CommentNode:
	case *parse.ActionNode:
		v, err := evalPipe(n.Pipe, dot)
		if err != nil {
			return err
		}
		printValue(b, v)
	case *parse.IfNode:
		v, err := evalPipe(n.Pipe, dot)
		if err != nil {
			return err
		}
		if truth(v) {
			return walk(b, n.List, dot)
		}
		return walk(b, n.ElseList, dot)
	case *parse.RangeNode:
		v, err := evalPipe(n.Pipe, dot)
		if err != nil {
			return err
		}
		v = indirect(v)
		switch {
		case !v.IsValid():
		case v.Kind() == reflect.Slice || v.Kind() == reflect.Array:
			for i := range v.Len() {
				if err := walk(b, n.List, v.Index(i)); err != nil {
					return err
				}
			}
			if v.Len() > 0 {
				return nil
			}
		default:
			return fmt.Errorf("%s: range over %s", n, v.Type())
		}
		return walk(b, n.ElseList, dot)
	default:
		return fmt.Errorf("%s: not supported by the renderer", n)
	}
	return nil
}

// evalPipe evaluates a pipeline; each command's value is the last argument
// of the next, as in text/template.
func evalPipe(p *parse.PipeNode, dot reflect.Value) (reflect.Value, error) {
	var v reflect.Value
	for i, c := range p.Cmds {
		var final *reflect.Value
		if i > 0 {
			final = &v
		}
		var err error
		if v, err = evalCommand(c, dot, final); err != nil {
			return reflect.Value{}, err
		}
	}
	return v, nil
}

func evalCommand(c *parse.CommandNode, dot reflect.Value, final *reflect.Value) (reflect.Value, error) {
	if id, ok := c.Args[0].(*parse.IdentifierNode); ok {
		if (id.Ident == "and" || id.Ident == "or") && final == nil {
			return shortCircuit(id.Ident == "and", c, dot)
		}
		args := make([]reflect.Value, 0, len(c.Args))
		for _, a := range c.Args[1:] {
			v, err := evalArg(a, dot)
			if err != nil {
				return reflect.Value{}, err
			}
			args = append(args, v)
		}
		if final != nil {
			args = append(args, *final)
		}
		v, err := call(id.Ident, args)
		if err != nil {
			return reflect.Value{}, fmt.Errorf("%s: %w", c, err)
		}
		return v, nil
	}
	if len(c.Args) > 1 || final != nil {
		return reflect.Value{}, fmt.Errorf("%s: can't give arguments to a non-function", c)
	}
	return evalArg(c.Args[0], dot)
}

// shortCircuit runs and (or or) as text/template does: it evaluates the
// arguments in turn and stops at the first false (true) one, which it
// returns; else the last.
func shortCircuit(and bool, c *parse.CommandNode, dot reflect.Value) (reflect.Value, error) {
	if len(c.Args) < 2 {
		return reflect.Value{}, fmt.Errorf("%s: %w", c, errArgs)
	}
	var v reflect.Value
	for _, a := range c.Args[1:] {
		var err error
		if v, err = evalArg(a, dot); err != nil {
			return reflect.Value{}, err
		}
		if truth(v) != and {
			break
		}
	}
	return v, nil
}

func evalArg(n parse.Node, dot reflect.Value) (reflect.Value, error) {
	switch n := n.(type) {
	case *parse.DotNode:
		return dot, nil
	case *parse.FieldNode:
		return field(dot, n.Ident)
	case *parse.StringNode:
		return reflect.ValueOf(n.Text), nil
	case *parse.NumberNode:
		if !n.IsInt {
			return reflect.Value{}, fmt.Errorf("%s: only integer constants are supported", n)
		}
		return reflect.ValueOf(int(n.Int64)), nil
	case *parse.BoolNode:
		return reflect.ValueOf(n.True), nil
	case *parse.NilNode:
		return reflect.Value{}, nil
	case *parse.PipeNode:
		return evalPipe(n, dot)
	case *parse.IdentifierNode:
		return call(n.Ident, nil)
	}
	return reflect.Value{}, fmt.Errorf("%s: not supported by the renderer", n)
}

// field reads the chain of struct fields idents from v.
func field(v reflect.Value, idents []string) (reflect.Value, error) {
	for _, id := range idents {
		s := indirect(v)
		if !s.IsValid() {
			return reflect.Value{}, fmt.Errorf("nil data; no field %s", id)
		}
		if s.Kind() != reflect.Struct {
			return reflect.Value{}, fmt.Errorf("can't evaluate field %s in type %s", id, s.Type())
		}
		f, ok := s.Type().FieldByName(id)
		if !ok || !f.IsExported() {
			return reflect.Value{}, fmt.Errorf("can't evaluate field %s in type %s", id, s.Type())
		}
		v = s.FieldByIndex(f.Index)
	}
	return v, nil
}

// indirect follows pointers and interfaces to the value; nil ones are the
// invalid Value.
func indirect(v reflect.Value) reflect.Value {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// truth is text/template's: empty and zero values are false.
func truth(v reflect.Value) bool {
	v = indirect(v)
	if !v.IsValid() {
		return false
	}
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() > 0
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() != 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() != 0
	case reflect.Float32, reflect.Float64:
		return v.Float() != 0
	}
	return true
}

// printValue prints v as text/template does: fmt.Fprint of the value,
// pointers followed, "<no value>" for none.
func printValue(b *strings.Builder, v reflect.Value) {
	if v.Kind() == reflect.Pointer {
		if e := indirect(v); e.IsValid() {
			v = e
		}
	}
	if !v.IsValid() {
		b.WriteString("<no value>")
		return
	}
	fmt.Fprint(b, v.Interface())
}

var errArgs = errors.New("wrong number of arguments")

// call runs the template function name.
func call(name string, args []reflect.Value) (reflect.Value, error) {
	switch name {
	case "eq":
		if len(args) < 2 {
			return reflect.Value{}, errArgs
		}
		for _, a := range args[1:] {
			eq, err := equal(args[0], a)
			if err != nil || eq {
				return reflect.ValueOf(eq), err
			}
		}
		return reflect.ValueOf(false), nil
	case "and", "or":
		if len(args) == 0 {
			return reflect.Value{}, errArgs
		}
		for _, a := range args {
			if truth(a) != (name == "and") {
				return a, nil
			}
		}
		return args[len(args)-1], nil
	case "not":
		if len(args) != 1 {
			return reflect.Value{}, errArgs
		}
		return reflect.ValueOf(!truth(args[0])), nil
	case "len":
		if len(args) != 1 {
			return reflect.Value{}, errArgs
		}
		v := indirect(args[0])
		switch v.Kind() {
		case reflect.Array, reflect.Chan, reflect.Map, reflect.Slice, reflect.String:
			return reflect.ValueOf(v.Len()), nil
		}
		return reflect.Value{}, fmt.Errorf("len of %s", v.Kind())
	case "index":
		if len(args) != 2 {
			return reflect.Value{}, errArgs
		}
		v, i := indirect(args[0]), indirect(args[1])
		if (v.Kind() != reflect.Slice && v.Kind() != reflect.Array) || !i.CanInt() {
			return reflect.Value{}, fmt.Errorf("can't index %s with %s", v.Kind(), i.Kind())
		}
		if i.Int() < 0 || i.Int() >= int64(v.Len()) {
			return reflect.Value{}, fmt.Errorf("index out of range: %d", i.Int())
		}
		return v.Index(int(i.Int())), nil
	case "join":
		if len(args) != 2 {
			return reflect.Value{}, errArgs
		}
		elems, sep := indirect(args[0]), indirect(args[1])
		ss, ok := elems.Interface().([]string)
		if !ok || sep.Kind() != reflect.String {
			return reflect.Value{}, fmt.Errorf("join wants []string and string, got %s and %s", elems.Type(), sep.Type())
		}
		return reflect.ValueOf(strings.Join(ss, sep.String())), nil
	}
	return reflect.Value{}, fmt.Errorf("function %q not defined", name)
}

// equal is text/template's eq for the basic kinds: integers of any size
// compare by value, as do strings and booleans.
func equal(a, b reflect.Value) (bool, error) {
	a, b = indirect(a), indirect(b)
	if !a.IsValid() || !b.IsValid() {
		return !a.IsValid() && !b.IsValid(), nil
	}
	switch {
	case a.CanInt() && b.CanInt():
		return a.Int() == b.Int(), nil
	case a.Kind() == reflect.String && b.Kind() == reflect.String:
		return a.String() == b.String(), nil
	case a.Kind() == reflect.Bool && b.Kind() == reflect.Bool:
		return a.Bool() == b.Bool(), nil
	}
	return false, fmt.Errorf("incompatible types for comparison: %s and %s", a.Type(), b.Type())
}
