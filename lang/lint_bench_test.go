package lang

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// genBlueprint writes a blueprint of about 60 lines with every common
// action, templates and conditions.
func genBlueprint(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: gen_%d\ndescription: generated blueprint %d\nendpoint: /jobs/gen_%d\n", i, i, i)
	b.WriteString("input:\n  type: object\n  properties: {amount: {type: number}, items: {type: array}}\n")
	b.WriteString("defaults: {retries: 2, timeout: 30s}\nstart: validate\nstates:\n")
	b.WriteString("  validate:\n    set:\n      order_no: ${{ \"ORD-\" + job.id[:8] }}\n      total: ${{ input.amount or 0 }}\n")
	// Conditions vary from file to file so no two files are the same.
	switch i % 3 {
	case 0:
		fmt.Fprintf(&b, "    choose:\n      - when: input.amount > %d and client.plan == \"pro\"\n        go_to: review\n", 1000+i)
	case 1:
		fmt.Fprintf(&b, "    choose:\n      - when: any([x.get(\"qty\", 0) > %d for x in input.items or []])\n        go_to: review\n", i%50)
	default:
		fmt.Fprintf(&b, "    choose:\n      - when: 'client.name in (\"acme\", \"gen_%d\") or input.get(\"express\", False)'\n        go_to: review\n", i)
	}
	b.WriteString("      - when: len(input.items or []) == 0\n        go_to: rejected\n      - go_to: check\n")
	b.WriteString("  check:\n    task:\n      type: check_inventory\n      params:\n        items: ${{ input.items }}\n        order: \"${{ history.order_no }}\"\n        note: \"order ${{ history.order_no }} for ${{ client.name }}\"\n")
	b.WriteString("      timeout: 60s\n      dispatch_timeout: 30s\n      priority: 1\n    transitions: {success: reserve, out_of_stock: rejected, failure: failed}\n")
	b.WriteString("  review:\n    approval:\n      message: \"Approve ${{ history.order_no }} of ${{ input.amount }}?\"\n      timeout: 24h\n    transitions: {approved: check, rejected: rejected, timeout: rejected}\n")
	b.WriteString("  reserve:\n    parallel:\n      for_each: ${{ input.items }}\n      as: item\n      task: {type: reserve_item, params: {sku: \"${{ item.sku }}\", qty: \"${{ item.qty or 1 }}\"}}\n")
	b.WriteString("    transitions: {success: pause, failure: failed}\n")
	b.WriteString("  pause:\n    wait: 5s\n    go_to: ship\n")
	b.WriteString("  ship:\n    task:\n      type: ship\n      params: {order: \"${{ history.order_no }}\", results: \"${{ results }}\"}\n      strategy: least_connections\n")
	b.WriteString("    transitions: {success: done, failure: failed}\n")
	b.WriteString("  done:\n    description: the order ships\n    end: success\n")
	b.WriteString("  rejected:\n    description: refused or out of stock\n    end: failure\n")
	b.WriteString("  failed:\n    description: a worker failed for good\n    end: failure\n")
	return b.String()
}

// BenchmarkLintThroughput lints 1,000 generated blueprints of about 60
// lines as one folder; files/s is the figure to watch (goal >= 2,000).
func BenchmarkLintThroughput(b *testing.B) {
	const n = 1000
	fsys := fstest.MapFS{}
	lines := 0
	for i := range n {
		src := genBlueprint(i)
		lines += strings.Count(src, "\n")
		fsys[fmt.Sprintf("gen_%04d.yaml", i)] = &fstest.MapFile{Data: []byte(src)}
	}
	if ds := LintFS(fsys); len(ds) > 0 {
		b.Fatalf("generated blueprints do not lint clean: %v", ds[:min(3, len(ds))])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if ds := LintFS(fsys); len(ds) > 0 {
			b.Fatal(ds[0])
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
	b.ReportMetric(float64(lines)/n, "lines/file")
}
