package bptest

import "github.com/avtomatika-ai/avtomatika-go/lang"

func nearest(name string, cands []string) string { return lang.Suggest(name, cands) }
