package crash

import "github.com/sluice-io/sluice/internal/testcluster"

// testValues is this suite's record value format (self-checking, naming
// partition and sequence).
var testValues = testcluster.CheckedValue{Magic: "SLCR", Size: 64}
