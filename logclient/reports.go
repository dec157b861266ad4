package logclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/fwledger/fwledger/api"
)

// AddReport sends a device's signed outcome report (package report, exact
// bytes) and returns its ID; Duplicate is set for a report the log stored
// already. A device sending too fast gets 429 Too Many Requests (an
// [HTTPError] with RetryAfter).
func (c *Client) AddReport(ctx context.Context, envelope []byte) (api.AddReportResponse, error) {
	var r api.AddReportResponse
	data, err := c.do(ctx, "POST", api.PathReports, bytes.NewReader(envelope), "application/json")
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("malformed response to POST %s: %w", api.PathReports, err)
	}
	return r, nil
}

// A ReportQuery selects device reports: after ID After, of Device (a DSSE
// key ID) and with Outcome, when they are not empty.
type ReportQuery struct {
	After   uint64
	Device  string
	Outcome string
}

// Reports returns one page of the stored device reports q selects; its
// Next, when set, is the After of the next page. Nothing in it is
// verified: each report's envelope verifies with its device's key.
func (c *Client) Reports(ctx context.Context, q ReportQuery) (api.DeviceReports, error) {
	v := url.Values{}
	if q.After > 0 {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	if q.Device != "" {
		v.Set("device", q.Device)
	}
	if q.Outcome != "" {
		v.Set("outcome", q.Outcome)
	}
	path := api.PathReports
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var r api.DeviceReports
	return r, c.getJSON(ctx, path, &r)
}
