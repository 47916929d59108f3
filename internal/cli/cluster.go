package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterInfo is what `sluice cluster info` shows.
type clusterInfo struct {
	ClusterID  string          `json:"cluster_id"`
	Controller int32           `json:"controller"`
	Brokers    []brokerInfo    `json:"brokers"`
	Features   []featureInfo   `json:"features"`
	APIs       []apiVersionsOf `json:"apis,omitempty"`
}

// brokerInfo is one broker as the metadata describes it.
type brokerInfo struct {
	ID   int32   `json:"id"`
	Host string  `json:"host"`
	Port int32   `json:"port"`
	Rack *string `json:"rack"`
}

// featureInfo is one feature flag (KIP-584): the version range the broker
// supports and the level finalized for the cluster, if any.
type featureInfo struct {
	Name         string `json:"name"`
	SupportedMin int16  `json:"supported_min"`
	SupportedMax int16  `json:"supported_max"`
	// Finalized is the cluster-wide level in force; null when none is.
	Finalized *int16 `json:"finalized"`
}

// apiVersionsOf is one API key the answering broker supports.
type apiVersionsOf struct {
	Key  int16  `json:"key"`
	Name string `json:"name"`
	Min  int16  `json:"min"`
	Max  int16  `json:"max"`
}

func newClusterCommand() *cobra.Command {
	var client clientFlags
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect the cluster (brokers, controller, cluster ID, features, metadata quorum) and elect leaders",
	}
	client.register(cmd, true, true)
	cmd.AddCommand(newClusterInfoCommand(&client))
	cmd.AddCommand(newClusterQuorumCommand(&client))
	cmd.AddCommand(newClusterElectLeadersCommand(&client))
	return cmd
}

func newClusterInfoCommand(client *clientFlags) *cobra.Command {
	var apis bool
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show the cluster ID, the controller, the brokers and the feature levels",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			info, err := readClusterInfo(s, apis)
			if err != nil {
				return err
			}
			return s.print(cmd, info, func(t *tableWriter) { writeClusterInfo(t, info) })
		},
	}
	cmd.Flags().BoolVar(&apis, "apis", false, "also list the API keys and versions the brokers support")
	return cmd
}

func readClusterInfo(s *adminSession, withAPIs bool) (clusterInfo, error) {
	metadata, err := s.admin.BrokerMetadata(s.ctx)
	if err != nil {
		return clusterInfo{}, s.conn.requestFailed("read cluster metadata", err)
	}
	info := clusterInfo{ClusterID: metadata.Cluster, Controller: metadata.Controller, Brokers: []brokerInfo{}, Features: []featureInfo{}}
	for _, b := range metadata.Brokers {
		info.Brokers = append(info.Brokers, brokerInfo{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	versions, err := s.admin.ApiVersions(s.ctx)
	if err != nil {
		return clusterInfo{}, s.conn.requestFailed("read API versions", err)
	}
	for _, v := range versions.Sorted() {
		if v.Err != nil {
			return clusterInfo{}, fmt.Errorf("read API versions of broker %d: %w", v.NodeID, explain(v.Err))
		}
		// Features and APIs are the same on every broker of a healthy
		// cluster; the lowest node ID speaks for all.
		info.Features = features(v.Raw())
		if withAPIs {
			info.APIs = apiList(v)
		}
		break
	}
	return info, nil
}

// features joins the supported and finalized feature lists by name.
func features(response *kmsg.ApiVersionsResponse) []featureInfo {
	out := []featureInfo{}
	for _, f := range response.SupportedFeatures {
		info := featureInfo{Name: f.Name, SupportedMin: f.MinVersion, SupportedMax: f.MaxVersion}
		for _, finalized := range response.FinalizedFeatures {
			if finalized.Name == f.Name {
				level := finalized.MaxVersionLevel
				info.Finalized = &level
			}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b featureInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func apiList(v kadm.BrokerApiVersions) []apiVersionsOf {
	var out []apiVersionsOf
	v.EachKeySorted(func(key, minVersion, maxVersion int16) {
		out = append(out, apiVersionsOf{Key: key, Name: kmsg.NameForKey(key), Min: minVersion, Max: maxVersion})
	})
	return out
}

func writeClusterInfo(t *tableWriter, info clusterInfo) {
	t.line("Cluster ID: %s", info.ClusterID)
	t.line("Controller: %d", info.Controller)
	t.line("")
	t.row("BROKER", "HOST", "PORT", "RACK")
	for _, b := range info.Brokers {
		rack := "-"
		if b.Rack != nil {
			rack = *b.Rack
		}
		t.row(b.ID, b.Host, b.Port, rack)
	}
	t.line("")
	if len(info.Features) == 0 {
		t.line("Features: none")
	} else {
		t.row("FEATURE", "SUPPORTED", "FINALIZED")
		for _, f := range info.Features {
			finalized := "-"
			if f.Finalized != nil {
				finalized = fmt.Sprint(*f.Finalized)
			}
			t.row(f.Name, fmt.Sprintf("%d-%d", f.SupportedMin, f.SupportedMax), finalized)
		}
	}
	if len(info.APIs) == 0 {
		return
	}
	t.line("")
	t.row("API", "KEY", "VERSIONS")
	for _, a := range info.APIs {
		t.row(a.Name, a.Key, fmt.Sprintf("%d-%d", a.Min, a.Max))
	}
}
