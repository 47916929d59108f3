package lint

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A core is DESIGN.md's "(state, event) in, (records, responses) out":
// the group and transaction coordinators' state machines, the
// controller's planning and replica.LeaderState's HW and ISR arithmetic.
// Their tests run them without sockets, files, clocks or goroutines, which
// holds only while the code has none; the drivers around them own those.
// coreRule is one core: a package, or some files of a package, and the
// files of it that are its driver, exempt.
type coreRule struct {
	// pkg is the package directory; files, if set, limits the rule to
	// those files of it (slash-separated, relative to the module root).
	pkg   string
	files []string
	// drivers are files of pkg that own the core's goroutine, clock or
	// locks, each with the reason.
	drivers map[string]string
}

var cores = []coreRule{
	{pkg: "internal/group"},
	{pkg: "internal/txn"},
	{pkg: "internal/controller", drivers: map[string]string{
		"internal/controller/controller.go": "Controller is the driver: it owns the clock (Config.Now) and the mutex that serialises planning against the quorum's commits",
	}},
	{pkg: "internal/replica", files: []string{"internal/replica/leader_state.go"}},
}

// coreForbiddenImports are the standard-library packages (and the ones
// below them) that reach the world outside a core: the network, the
// filesystem, the process, locks.
var coreForbiddenImports = []string{"net", "os", "io/fs", "syscall", "sync"}

// coreForbiddenTime are the time functions that read the clock or start a
// timer; a core takes "now" as an argument.
var coreForbiddenTime = []string{"Now", "Since", "Until", "After", "AfterFunc", "NewTimer", "NewTicker", "Tick", "Sleep"}

func TestCoresArePure(t *testing.T) {
	files, _ := loadModule(t)
	for _, problem := range checkCores(files, cores) {
		t.Error(problem)
	}
}

// checkCores applies the core rules to the non-test files they cover.
func checkCores(files []*sourceFile, rules []coreRule) []string {
	var problems []string
	for _, rule := range rules {
		for _, f := range files {
			if f.test || f.pkg != rule.pkg || len(rule.files) > 0 && !slices.Contains(rule.files, f.name) {
				continue
			}
			if _, driver := rule.drivers[f.name]; driver {
				continue
			}
			problems = append(problems, checkCoreFile(f)...)
		}
	}
	return problems
}

func checkCoreFile(f *sourceFile) []string {
	var problems []string
	at := func(n ast.Node) string { return f.fset.Position(n.Pos()).String() }
	for _, spec := range f.ast.Imports {
		importPath, _ := strconv.Unquote(spec.Path.Value)
		if forbiddenCoreImport(importPath) {
			problems = append(problems, fmt.Sprintf("%s: a core imports %q: move the I/O, lock or goroutine to its driver (internal/lint cores)", at(spec), importPath))
		}
	}
	timeName := ""
	for name, importPath := range fileImports(f.ast) {
		if importPath == "time" {
			timeName = name
		}
	}
	ast.Inspect(f.ast, func(node ast.Node) bool {
		switch n := node.(type) {
		case *ast.GoStmt:
			problems = append(problems, fmt.Sprintf("%s: a core starts a goroutine: its driver owns goroutines (internal/lint cores)", at(n)))
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && timeName != "" && x.Name == timeName && x.Obj == nil && slices.Contains(coreForbiddenTime, n.Sel.Name) {
				problems = append(problems, fmt.Sprintf("%s: a core uses time.%s: take the time as an argument (internal/lint cores)", at(n), n.Sel.Name))
			}
		}
		return true
	})
	return problems
}

func forbiddenCoreImport(importPath string) bool {
	for _, forbidden := range coreForbiddenImports {
		if importPath == forbidden || strings.HasPrefix(importPath, forbidden+"/") {
			return true
		}
	}
	return false
}

// TestCoreRuleCatchesViolations shows the rule can fail: a core file that
// imports os, starts a goroutine and reads the clock gets one problem
// each; a local variable named time is not the package; a driver file is
// exempt.
func TestCoreRuleCatchesViolations(t *testing.T) {
	const src = `package group

import (
	"os"
	"time"
)

func bad() {
	go func() {}()
	_ = time.Now()
	_ = os.Args
	_ = time.Duration(1)
}

func shadowed(time struct{ Now int }) int { return time.Now }
`
	fset := token.NewFileSet()
	parsed, err := parser.ParseFile(fset, "internal/group/bad.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	file := &sourceFile{name: "internal/group/bad.go", pkg: "internal/group", ast: parsed, fset: fset}
	problems := checkCores([]*sourceFile{file}, []coreRule{{pkg: "internal/group"}})
	if len(problems) != 3 {
		t.Fatalf("got %d problems, want 3 (import os, go statement, time.Now):\n%s", len(problems), strings.Join(problems, "\n"))
	}
	exempt := []coreRule{{pkg: "internal/group", drivers: map[string]string{"internal/group/bad.go": "test"}}}
	if problems := checkCores([]*sourceFile{file}, exempt); len(problems) != 0 {
		t.Fatalf("a driver file was checked: %v", problems)
	}
}
