// Package lint holds no code, only tests that let a machine hold the lines
// a reviewer would otherwise have to remember (STYLE.md item 15, after
// pebble's internal/lint):
//
//   - imports point down DESIGN.md's layers, along the edges of the layers
//     table below, and test-only packages are imported from _test.go files
//     alone;
//   - nothing prints to the terminal outside internal/cli and cmd/ (the
//     CLI owns stdout and stderr; libraries log through slog or write to an
//     io.Writer they are given);
//   - non-test code does not call time.Sleep (wait on a channel, a timer or
//     a condition), panic, or exit the process.
//
// The tests parse the module's Go files with go/parser: no go command, no
// type checking, well under a second. Calls are recognised by syntax: fmt.X
// is a selector whose left side is the file's name for the "fmt" import and
// not a local variable; panic and print are identifiers that no declaration
// in the file or package shadows, hence the builtins. (Local declarations
// are seen through go/parser's object resolution, ast.Ident.Obj: deprecated
// in favour of go/types, which would have to type-check every dependency.)
package lint

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/testbin"
)

// layer is one row of the import table: a package of the module and the
// module packages it may import.
type layer struct {
	// pkg is the package's directory inside the module, e.g. "internal/api".
	// "test/..." stands for every package under test/.
	pkg string
	// imports are the module packages pkg may import. Each has its own row
	// further down the table: dependencies point down only.
	imports []string
	// anyImport lets pkg import every module package (black-box suites).
	anyImport bool
	// testOnly marks test infrastructure: importable from _test.go files
	// only, and exempt from the row check when a test imports it.
	testOnly bool
	// planned marks a package DESIGN.md names that is not written yet; its
	// row may exist before its directory does.
	planned bool
}

// layers is DESIGN.md's "Layers (dependencies point down only)" as a
// table, top to bottom. A new package, or a new edge between packages, is
// added here on purpose, in the same change that adds the import; an edge
// may only point at a row further down.
//
// internal/metrics sits lower than in DESIGN.md's diagram: the diagram draws
// it above api, but it holds the metric definitions shared by server, api
// and replica, so it must sit below all three.
var layers = []layer{
	// Black-box suites drive the whole system, in-process or as a binary.
	{pkg: "test/...", anyImport: true, testOnly: true},
	{pkg: "internal/lint", imports: []string{"internal/testbin"}, testOnly: true},
	// testcluster runs brokers in-process (server) and as processes (testbin),
	// and reads replica logs offline (storage, record) to compare them.
	{pkg: "internal/testcluster", imports: []string{
		"internal/testbin", "internal/server", "internal/replica", "internal/storage", "internal/record",
		"internal/config", "internal/vfs"}, testOnly: true},
	{pkg: "internal/testbin", testOnly: true},

	{pkg: "cmd/sluice", imports: []string{"internal/cli"}},
	{pkg: "internal/cli", imports: []string{"internal/perf", "internal/server", "internal/config", "internal/logging"}},
	// perf is the CLI's benchmark library: it talks to brokers as a client.
	{pkg: "internal/perf"},
	{pkg: "internal/server", imports: []string{
		"internal/api", "internal/group", "internal/txn", "internal/coord", "internal/controller",
		"internal/quorum", "internal/metadata", "internal/replica", "internal/metrics",
		"internal/storage", "internal/config", "internal/vfs", "internal/wire"}},
	// api touches no files; its tests host partitions on vfs.MemFS.
	{pkg: "internal/api", imports: []string{
		"internal/group", "internal/txn", "internal/coord", "internal/metadata", "internal/replica",
		"internal/metrics", "internal/storage", "internal/record", "internal/config", "internal/vfs"}},
	{pkg: "internal/group", imports: []string{"internal/coord", "internal/metadata", "internal/record", "internal/config"}},
	// txn's own code needs only coord; replica, storage and vfs (all below
	// coord) are for runtime_test.go, which drives the shard through a real
	// coord runtime on a real partition.
	{pkg: "internal/txn", imports: []string{"internal/coord", "internal/metadata", "internal/record", "internal/config",
		"internal/replica", "internal/storage", "internal/vfs"}},
	{pkg: "internal/coord", imports: []string{"internal/replica", "internal/storage", "internal/record", "internal/config", "internal/vfs"}},
	{pkg: "internal/controller", imports: []string{"internal/quorum", "internal/metadata", "internal/config"}},
	// quorum's raft-wal segments, state and snapshots go through the vfs
	// seam, so power-cut tests cut the metadata log too.
	{pkg: "internal/quorum", imports: []string{"internal/metadata", "internal/vfs"}},
	{pkg: "internal/metadata"},
	{pkg: "internal/replica", imports: []string{"internal/metrics", "internal/storage", "internal/record", "internal/vfs"}},
	{pkg: "internal/metrics"},
	{pkg: "internal/storage", imports: []string{"internal/record", "internal/vfs"}},
	{pkg: "internal/record"},
	{pkg: "internal/wire"},
	{pkg: "internal/config"},
	{pkg: "internal/vfs"},
	// logging wraps the CLI's slog handler (collapsing, caps).
	{pkg: "internal/logging"},
}

// panicAllowed lists the panic calls non-test code may make, keyed by
// "file:function" (file relative to the module root), each with the reason.
// An entry must name a panic that no input can reach: a broken invariant of
// the program itself, on constant data, caught by every test that runs the
// code. Anything derived from a request, a file or a flag returns an error
// instead (STYLE.md item 3). The tree needs no entry today; a stale entry
// fails the test.
//
// Not flagged, because they are not literal panic calls and take constant
// input: regexp.MustCompile on a string literal (checked below: a
// non-literal pattern is flagged) and prometheus' MustRegister and
// MustNewConstMetric on the collectors and label sets internal/metrics
// defines itself.
var panicAllowed = map[string]string{}

// sourceFile is one parsed Go file of the module.
type sourceFile struct {
	name string // path relative to the module root, slash-separated
	pkg  string // directory relative to the module root: the package
	test bool   // a _test.go file
	ast  *ast.File
	fset *token.FileSet // positions of ast
}

func TestLayersTableIsConsistent(t *testing.T) {
	for _, problem := range checkLayersTable(layers) {
		t.Error(problem)
	}
}

// TestLint checks the module's own files; the module is parsed once for
// all the checks.
func TestLint(t *testing.T) {
	files, modulePath := loadModule(t)
	t.Run("ImportsPointDown", func(t *testing.T) {
		for _, problem := range checkImports(files, modulePath, layers) {
			t.Error(problem)
		}
		for _, problem := range checkStaleRows(files, layers) {
			t.Error(problem)
		}
	})
	t.Run("ForbiddenCalls", func(t *testing.T) {
		for _, problem := range checkCalls(files, panicAllowed) {
			t.Error(problem)
		}
	})
}

// loadModule parses every Go file of the module this test belongs to.
func loadModule(t *testing.T) ([]*sourceFile, string) {
	t.Helper()
	root := testbin.ModuleRoot(t)
	modulePath := readModulePath(t, filepath.Join(root, "go.mod"))
	var files []*sourceFile
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(name string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if entry.IsDir() {
			return skipDir(root, name, entry)
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		file, err := parseFile(fset, root, name)
		if err != nil {
			return err
		}
		files = append(files, file)
		return nil
	})
	if err != nil {
		t.Fatalf("parse the module: %v", err)
	}
	if len(files) == 0 {
		t.Fatalf("no Go files under %s", root)
	}
	return files, modulePath
}

// skipDir leaves out what the go command leaves out (testdata, hidden and
// underscore directories) and nested modules.
func skipDir(root, name string, entry fs.DirEntry) error {
	if name == root {
		return nil
	}
	base := entry.Name()
	if base == "testdata" || base == "vendor" || strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") {
		return filepath.SkipDir
	}
	if _, err := os.Stat(filepath.Join(name, "go.mod")); err == nil {
		return filepath.SkipDir
	}
	return nil
}

func parseFile(fset *token.FileSet, root, name string) (*sourceFile, error) {
	parsed, err := parser.ParseFile(fset, name, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	rel, err := filepath.Rel(root, name)
	if err != nil {
		return nil, err
	}
	rel = filepath.ToSlash(rel)
	return &sourceFile{name: rel, pkg: path.Dir(rel), test: strings.HasSuffix(rel, "_test.go"), ast: parsed, fset: fset}, nil
}

func readModulePath(t *testing.T, goMod string) string {
	t.Helper()
	data, err := os.ReadFile(goMod)
	if err != nil {
		t.Fatalf("read go.mod: %v", err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	t.Fatalf("%s has no module line", goMod)
	return ""
}

// checkLayersTable checks the table itself: rows are unique, every edge
// points at a row further down, and production rows never name test-only
// packages.
func checkLayersTable(table []layer) []string {
	var problems []string
	position := map[string]int{}
	for i, row := range table {
		if _, dup := position[row.pkg]; dup {
			problems = append(problems, fmt.Sprintf("layers: %s has two rows", row.pkg))
		}
		position[row.pkg] = i
	}
	for i, row := range table {
		for _, target := range row.imports {
			j, ok := position[target]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("layers: %s may import %s, which has no row", row.pkg, target))
			case j <= i:
				problems = append(problems, fmt.Sprintf("layers: %s may import %s, which is not below it: dependencies point down only", row.pkg, target))
			case table[j].testOnly && !row.testOnly:
				problems = append(problems, fmt.Sprintf("layers: %s may import test-only %s", row.pkg, target))
			}
		}
	}
	return problems
}

// rowFor finds pkg's row, or nil.
func rowFor(table []layer, pkg string) *layer {
	for i := range table {
		prefix, wildcard := strings.CutSuffix(table[i].pkg, "/...")
		if table[i].pkg == pkg || wildcard && strings.HasPrefix(pkg, prefix+"/") {
			return &table[i]
		}
	}
	return nil
}

// checkImports checks every module-internal import of every file against
// the table, and that every package has a row.
func checkImports(files []*sourceFile, modulePath string, table []layer) []string {
	var problems []string
	packages := map[string]bool{}
	for _, f := range files {
		packages[f.pkg] = true
		problems = append(problems, checkFileImports(f, modulePath, table)...)
	}
	for _, pkg := range slices.Sorted(maps.Keys(packages)) {
		if rowFor(table, pkg) == nil {
			problems = append(problems, fmt.Sprintf("package %s has no row in the layers table (internal/lint): add one, with the packages it may import", pkg))
		}
	}
	return problems
}

// checkStaleRows reports rows naming a package that does not exist and is
// not marked planned.
func checkStaleRows(files []*sourceFile, table []layer) []string {
	packages := map[string]bool{}
	for _, f := range files {
		packages[f.pkg] = true
	}
	var problems []string
	for _, row := range table {
		if !row.planned && !strings.HasSuffix(row.pkg, "/...") && !packages[row.pkg] {
			problems = append(problems, fmt.Sprintf("layers: row %s names no package: remove it, or mark it planned", row.pkg))
		}
	}
	return problems
}

func checkFileImports(f *sourceFile, modulePath string, table []layer) []string {
	row := rowFor(table, f.pkg)
	if row == nil {
		return nil // reported once per package by checkImports
	}
	var problems []string
	for _, spec := range f.ast.Imports {
		importPath, _ := strconv.Unquote(spec.Path.Value)
		target, internal := strings.CutPrefix(importPath, modulePath+"/")
		if !internal || target == f.pkg {
			continue
		}
		if problem := checkEdge(f, row, target, table); problem != "" {
			problems = append(problems, fmt.Sprintf("%s imports %s: %s", f.name, target, problem))
		}
	}
	return problems
}

// checkEdge says what is wrong with f (in row) importing target, or "".
func checkEdge(f *sourceFile, row *layer, target string, table []layer) string {
	targetRow := rowFor(table, target)
	switch {
	case targetRow == nil:
		return "it has no row in the layers table (internal/lint): add one"
	case targetRow.testOnly && !f.test && !row.testOnly:
		return "test-only packages may be imported from _test.go files only"
	case row.anyImport, slices.Contains(row.imports, target):
		return ""
	case f.test && targetRow.testOnly:
		return ""
	}
	return fmt.Sprintf("not an edge of the layers table (internal/lint; DESIGN.md: dependencies point down only); %s may import %v", row.pkg, row.imports)
}

// checkCalls applies the call rules to every file, with allowed the panic
// allowlist ("file:function" → reason).
func checkCalls(files []*sourceFile, allowed map[string]string) []string {
	declared := packageNames(files)
	var problems []string
	used := map[string]bool{}
	for _, f := range files {
		c := &callChecker{file: f, imports: fileImports(f.ast), declared: declared[packageKey(f)], allowed: allowed, used: used}
		c.check()
		problems = append(problems, c.problems...)
	}
	for _, key := range slices.Sorted(maps.Keys(allowed)) {
		if !used[key] {
			problems = append(problems, fmt.Sprintf("panicAllowed: %s matches no panic call: remove the entry", key))
		}
	}
	return problems
}

// packageKey tells a package from its external test package (x_test) in
// the same directory.
func packageKey(f *sourceFile) string { return f.pkg + " " + f.ast.Name.Name }

// packageNames collects each package's top-level names: a package that
// declares its own print or panic does not call the builtin.
func packageNames(files []*sourceFile) map[string]map[string]bool {
	names := map[string]map[string]bool{}
	for _, f := range files {
		key := packageKey(f)
		if names[key] == nil {
			names[key] = map[string]bool{}
		}
		for _, decl := range f.ast.Decls {
			for _, name := range declNames(decl) {
				names[key][name] = true
			}
		}
	}
	return names
}

func declNames(decl ast.Decl) []string {
	switch d := decl.(type) {
	case *ast.FuncDecl:
		if d.Recv == nil {
			return []string{d.Name.Name}
		}
	case *ast.GenDecl:
		var names []string
		for _, spec := range d.Specs {
			switch s := spec.(type) {
			case *ast.ValueSpec:
				for _, n := range s.Names {
					names = append(names, n.Name)
				}
			case *ast.TypeSpec:
				names = append(names, s.Name.Name)
			}
		}
		return names
	}
	return nil
}

// fileImports maps each name a file uses for an import to the import path.
func fileImports(file *ast.File) map[string]string {
	imports := map[string]string{}
	for _, spec := range file.Imports {
		importPath, _ := strconv.Unquote(spec.Path.Value)
		name := path.Base(importPath)
		if spec.Name != nil {
			name = spec.Name.Name
		}
		imports[name] = importPath
	}
	return imports
}

// callChecker walks one file for forbidden calls and references.
type callChecker struct {
	file     *sourceFile
	imports  map[string]string // local name → import path
	declared map[string]bool   // the package's top-level names
	allowed  map[string]string // panic allowlist
	used     map[string]bool   // allowlist entries that matched

	function string // the enclosing top-level function while walking
	problems []string
}

func (c *callChecker) check() {
	for _, decl := range c.file.ast.Decls {
		c.function = "package-level"
		if fn, ok := decl.(*ast.FuncDecl); ok {
			c.function = funcName(fn)
		}
		ast.Inspect(decl, c.visit)
	}
}

func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	receiver := fn.Recv.List[0].Type
	if star, ok := receiver.(*ast.StarExpr); ok {
		receiver = star.X
	}
	if index, ok := receiver.(*ast.IndexExpr); ok {
		receiver = index.X
	}
	if ident, ok := receiver.(*ast.Ident); ok {
		return ident.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}

func (c *callChecker) visit(node ast.Node) bool {
	switch n := node.(type) {
	case *ast.CallExpr:
		c.checkCall(n)
	case *ast.SelectorExpr:
		c.checkReference(n)
	}
	return true
}

// mayPrint: the CLI owns the terminal; tests may print.
func (c *callChecker) mayPrint() bool {
	return c.file.test || c.file.pkg == "internal/cli" || strings.HasPrefix(c.file.pkg, "cmd/")
}

// mayExit: only main decides the process's exit.
func (c *callChecker) mayExit() bool {
	return c.file.test || strings.HasPrefix(c.file.pkg, "cmd/")
}

// mayUseStdio also lets test infrastructure (internal/testcluster's opt-in
// debug log) write to the test binary's stderr.
func (c *callChecker) mayUseStdio() bool {
	row := rowFor(layers, c.file.pkg)
	return c.mayPrint() || row != nil && row.testOnly
}

func (c *callChecker) checkCall(call *ast.CallExpr) {
	if ident, ok := call.Fun.(*ast.Ident); ok {
		c.checkBuiltin(call, ident)
		return
	}
	importPath, name, ok := c.packageSelector(call.Fun)
	if !ok {
		return
	}
	switch {
	case importPath == "fmt" && strings.HasPrefix(name, "Print") && !c.mayPrint():
		c.report(call, "fmt.%s prints to stdout: only internal/cli and cmd/ own the terminal; log with slog or write to an io.Writer", name)
	case importPath == "log" && strings.HasPrefix(name, "Print") && !c.mayPrint():
		c.report(call, "log.%s writes to stderr: log with the injected *slog.Logger", name)
	case importPath == "log" && (strings.HasPrefix(name, "Fatal") || strings.HasPrefix(name, "Panic")) && !c.mayExit():
		c.report(call, "log.%s ends the process: return an error", name)
	case importPath == "os" && name == "Exit" && !c.mayExit():
		c.report(call, "os.Exit outside cmd/: return an error (or an exit code, as cli.Main does)")
	case importPath == "time" && name == "Sleep" && !c.file.test:
		c.report(call, "time.Sleep in non-test code: wait on a channel, timer or condition instead")
	case importPath == "regexp" && strings.HasPrefix(name, "MustCompile") && !c.file.test && !literalArgument(call):
		c.report(call, "regexp.%s on a computed pattern panics on bad input: use regexp.Compile and return the error", name)
	}
}

func (c *callChecker) checkBuiltin(call *ast.CallExpr, ident *ast.Ident) {
	if !c.isBuiltin(ident) || c.file.test {
		return
	}
	switch ident.Name {
	case "print", "println":
		if !c.mayPrint() {
			c.report(call, "builtin %s writes to stderr: log with slog", ident.Name)
		}
	case "panic":
		key := c.file.name + ":" + c.function
		if _, ok := c.allowed[key]; ok {
			c.used[key] = true
			return
		}
		c.report(call, "panic in %s: return an error (STYLE.md item 3), or justify an entry %q in panicAllowed (internal/lint)", c.function, key)
	}
}

// checkReference flags os.Stdout and os.Stderr used anywhere (passed to
// fmt.Fprintln, a logger, ...) outside the CLI.
func (c *callChecker) checkReference(sel *ast.SelectorExpr) {
	importPath, name, ok := c.packageSelector(sel)
	if ok && importPath == "os" && (name == "Stdout" || name == "Stderr") && !c.mayUseStdio() {
		c.report(sel, "os.%s outside internal/cli and cmd/: take an io.Writer or a *slog.Logger", name)
	}
}

// packageSelector recognises pkg.Name where pkg is one of the file's
// imports, not a local variable of the same name.
func (c *callChecker) packageSelector(expr ast.Expr) (importPath, name string, ok bool) {
	sel, isSel := expr.(*ast.SelectorExpr)
	if !isSel {
		return "", "", false
	}
	ident, isIdent := sel.X.(*ast.Ident)
	if !isIdent || ident.Obj != nil {
		return "", "", false
	}
	importPath, ok = c.imports[ident.Name]
	return importPath, sel.Sel.Name, ok
}

// isBuiltin tells whether ident refers to no declaration of the file or
// the package: the universe scope.
func (c *callChecker) isBuiltin(ident *ast.Ident) bool {
	return ident.Obj == nil && !c.declared[ident.Name]
}

func literalArgument(call *ast.CallExpr) bool {
	if len(call.Args) != 1 {
		return false
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	return ok && lit.Kind == token.STRING
}

func (c *callChecker) report(node ast.Node, format string, args ...any) {
	line := c.file.fset.Position(node.Pos()).Line
	c.problems = append(c.problems, fmt.Sprintf("%s:%d: %s", c.file.name, line, fmt.Sprintf(format, args...)))
}

// The tests below feed the checks a small made-up module: one violation of
// each rule beside look-alikes that are fine. A check that silently stopped
// matching (and so could never fail on the real tree) fails here.

const fakeModule = "example.com/fake"

var fakeSources = map[string]string{
	"internal/storage/bad.go": `package storage

import (
	"fmt"
	"log"
	"os"
	"regexp"
	"time"

	"example.com/fake/internal/api"
	"example.com/fake/internal/testcluster"
)

var pattern = regexp.MustCompile("^fine$")

func bad(p string) {
	fmt.Println(api.X, testcluster.X)
	fmt.Fprintln(os.Stderr, "x")
	time.Sleep(time.Second)
	panic("boom")
	println("x")
	os.Exit(1)
	log.Fatalf("x")
	regexp.MustCompile(p)
}
`,
	"internal/storage/bad_test.go": `package storage

import (
	"fmt"
	"time"

	"example.com/fake/internal/testcluster"
)

func helper() { fmt.Println(testcluster.X); time.Sleep(time.Second); panic("fine in tests") }
`,
	"internal/record/shadow.go": `package record

import "fmt"

type printer struct{}

func (printer) Println(...any) {}

func lookalikes() {
	fmt := printer{}
	fmt.Println("a method of a local, not the fmt package")
	print("the package's own print")
	var time struct{ Sleep func() }
	time.Sleep()
}
`,
	"internal/record/print.go": `package record

func print(string) {}
`,
	"internal/cli/ok.go": `package cli

import (
	"fmt"
	"os"
	"time"
)

func run() { fmt.Println("the CLI may print"); fmt.Fprintln(os.Stdout); time.Sleep(0) }
`,
	"internal/api/bad.go": `package api

import (
	"example.com/fake/internal/cli"
	"example.com/fake/internal/storage"
	"example.com/fake/internal/unlisted"
)

var X = cli.Y + storage.Z + unlisted.W

func handle() { panic("allowlisted") }
`,
	"internal/testcluster/cluster.go": `package testcluster

import (
	"os"

	"example.com/fake/internal/server"
)

var X = server.Start(os.Stderr)
`,
	"internal/unlisted/x.go": `package unlisted
`,
	"cmd/sluice/main.go": `package main

import (
	"os"

	"example.com/fake/internal/server"
)

func main() { server.Run(); os.Exit(0) }
`,
}

// parseFakeModule parses fakeSources as if they were a module's files.
func parseFakeModule(t *testing.T) []*sourceFile {
	t.Helper()
	fset := token.NewFileSet()
	var files []*sourceFile
	for _, name := range slices.Sorted(maps.Keys(fakeSources)) {
		parsed, err := parser.ParseFile(fset, name, fakeSources[name], 0)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		files = append(files, &sourceFile{name: name, pkg: path.Dir(name), test: strings.HasSuffix(name, "_test.go"), ast: parsed, fset: fset})
	}
	return files
}

// expectProblems checks that each want is a substring of exactly one
// problem, in order, and that there are no other problems.
func expectProblems(t *testing.T, problems, want []string) {
	t.Helper()
	if len(problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(problems), len(want), strings.Join(problems, "\n"))
	}
	for i := range min(len(problems), len(want)) {
		if !strings.Contains(problems[i], want[i]) {
			t.Errorf("problem %d = %q, want it to contain %q", i, problems[i], want[i])
		}
	}
}

func TestImportChecksCatchViolations(t *testing.T) {
	expectProblems(t, checkImports(parseFakeModule(t), fakeModule, layers), []string{
		"cmd/sluice/main.go imports internal/server: not an edge of the layers table",
		"internal/api/bad.go imports internal/cli: not an edge",
		"internal/api/bad.go imports internal/unlisted: it has no row",
		"internal/storage/bad.go imports internal/api: not an edge",
		"internal/storage/bad.go imports internal/testcluster: test-only packages may be imported from _test.go files only",
		"package internal/unlisted has no row",
	})
}

func TestCallChecksCatchViolations(t *testing.T) {
	allowed := map[string]string{
		"internal/api/bad.go:handle":   "exercises the allowlist",
		"internal/api/gone.go:removed": "a stale entry",
	}
	expectProblems(t, checkCalls(parseFakeModule(t), allowed), []string{
		"internal/cli/ok.go:9: time.Sleep in non-test code",
		"internal/storage/bad.go:17: fmt.Println prints to stdout",
		"internal/storage/bad.go:18: os.Stderr outside internal/cli",
		"internal/storage/bad.go:19: time.Sleep",
		"internal/storage/bad.go:20: panic in bad",
		"internal/storage/bad.go:21: builtin println",
		"internal/storage/bad.go:22: os.Exit outside cmd/",
		"internal/storage/bad.go:23: log.Fatalf ends the process",
		"internal/storage/bad.go:24: regexp.MustCompile on a computed pattern",
		"panicAllowed: internal/api/gone.go:removed matches no panic call",
	})
}

func TestLayersTableChecksCatchMistakes(t *testing.T) {
	table := []layer{
		{pkg: "internal/high", imports: []string{"internal/low", "internal/helper", "internal/nowhere"}},
		{pkg: "internal/low", imports: []string{"internal/high"}},
		{pkg: "internal/helper", testOnly: true},
		{pkg: "internal/future", planned: true},
		{pkg: "internal/future", planned: true},
	}
	expectProblems(t, checkLayersTable(table), []string{
		"layers: internal/future has two rows",
		"layers: internal/high may import test-only internal/helper",
		"layers: internal/high may import internal/nowhere, which has no row",
		"layers: internal/low may import internal/high, which is not below it",
	})
	expectProblems(t, checkStaleRows(parseFakeModule(t), table), []string{
		"layers: row internal/high names no package",
		"layers: row internal/low names no package",
		"layers: row internal/helper names no package",
	})
}
