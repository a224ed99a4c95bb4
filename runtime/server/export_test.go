package server

// ScrapeMetrics is scrapeURL, for the tests of package server_test.
var ScrapeMetrics = scrapeURL
