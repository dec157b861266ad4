package api

// PathReports is where devices send their outcome reports (POST) and where
// they are read (GET ?after=&device=&outcome=).
const PathReports = "/v1/reports"

// Limits of device reports (docs/API.md, "Limits", says why).
const (
	// MaxReportSize is the largest report envelope (package report's
	// MaxSize), and request body of POST /v1/reports.
	MaxReportSize = 16 << 10
	// MaxReportResults is the most reports one page of GET /v1/reports
	// holds; "next" continues it.
	MaxReportResults = 100
	// ReportsPerDevice is how many reports of one device a log keeps: the
	// newest, by the device's time.
	ReportsPerDevice = 1000
	// ReportDevices is the most devices a log keeps reports of.
	ReportDevices = 100_000
)

// AddReportResponse is the response of POST /v1/reports: the report's ID
// (201 Created), or, for a report already stored, its ID with Duplicate
// (200 OK).
type AddReportResponse struct {
	ID        uint64 `json:"id"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// DeviceReport is one stored report in the response of GET /v1/reports:
// what the report says, and the exact envelope the device signed.
type DeviceReport struct {
	ID uint64 `json:"id"`
	// Received is when the log stored it (RFC 3339, UTC, milliseconds).
	Received string `json:"received"`
	// Fork is true when the report's checkpoint is signed by the log with
	// another root hash than the log's tree of that size.
	Fork bool `json:"fork"`
	// The report's fields (docs/FORMATS.md, "Device report").
	Device          string  `json:"device"`
	Model           string  `json:"model"`
	Channel         string  `json:"channel"`
	Outcome         string  `json:"outcome"`
	Reason          string  `json:"reason,omitempty"`
	Detail          string  `json:"detail,omitempty"`
	Image           string  `json:"image"`
	Version         string  `json:"version,omitempty"`
	SecurityVersion *uint64 `json:"security_version,omitempty"`
	LogIndex        *uint64 `json:"log_index,omitempty"`
	Checkpoint      string  `json:"checkpoint,omitempty"`
	Time            string  `json:"time"`
	InstallMillis   *uint64 `json:"install_ms,omitempty"`
	// Envelope is the exact envelope received (standard base64 in JSON),
	// to verify with the device's key.
	Envelope []byte `json:"envelope"`
}

// DeviceReports is the response of GET /v1/reports.
type DeviceReports struct {
	Reports []DeviceReport `json:"reports"`
	// Next, when present, is the value of "after" that continues the list.
	Next *uint64 `json:"next,omitempty"`
}
