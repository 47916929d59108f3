package wire

// Helpers shared with the external test package (broker_test.go runs
// against a real broker, whose packages import this one).
var (
	TestContext = testContext
	MetadataFor = metadataFor
)
