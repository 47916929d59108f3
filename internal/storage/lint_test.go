package storage

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestPackageRules holds the line for storage and vfs: imports point down
// (storage: record and vfs; vfs: the standard library only), and non-test
// code never panics, prints, sleeps or reads the environment.
func TestPackageRules(t *testing.T) {
	const module = "github.com/sluice-io/sluice/"
	allowed := map[string][]string{
		".":      {module + "internal/record", module + "internal/vfs"},
		"../vfs": nil,
	}
	banned := map[string]bool{"panic": true, "fmt.Print": true, "fmt.Printf": true, "fmt.Println": true, "time.Sleep": true, "os.Getenv": true}
	for dir, internal := range allowed {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range file.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(path, module) && !contains(internal, path) {
					t.Errorf("%s imports %s", name, path)
				}
			}
			ast.Inspect(file, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok && banned[callName(call.Fun)] {
					t.Errorf("%s calls %s", name, callName(call.Fun))
				}
				return true
			})
		}
	}
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func callName(fun ast.Expr) string {
	switch f := fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		if pkg, ok := f.X.(*ast.Ident); ok {
			return pkg.Name + "." + f.Sel.Name
		}
	}
	return ""
}
