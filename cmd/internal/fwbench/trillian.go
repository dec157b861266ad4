package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/tiles"
	"github.com/go-sql-driver/mysql"
	tpb "github.com/google/trillian"
	"github.com/google/trillian/types"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TrillianResult is what the trillian phase measures: Trillian alone, with
// no fwlog in front, fed the leaves fwlog would log for the same
// submissions (fwbench append's release envelopes).
//
// A leaf is acknowledged when the answer to the call that carried it
// arrives (QueueLeaf: its own call; AddSequencedLeaves: its batch's), and
// integrated when the first signed root whose TreeSize exceeds its index
// exists. AddSequencedLeaves fixes each leaf's index; QueueLeaf's answer
// does not hold one, so once every leaf is integrated the phase reads the
// tree's leaves back (GetLeavesByRange) and finds each leaf's index by its
// Merkle leaf hash. Every accepted leaf is timed; none is sampled.
//
// When the root was made is found one of two ways (IntegrationSource):
//
//   - "trillian-db" (--trillian-db): once the load is over, from Trillian's
//     own table of every root it signed (TreeHead: TreeSize,
//     TreeHeadTimestamp), read in its MySQL database. The time is the
//     signer's timestamp in the root, on the same machine's clock as the
//     acknowledgements. Nothing is asked of Trillian during the load but
//     the submissions; after the last answer, GetLatestSignedLogRoot is
//     polled every PollMS to see when every leaf is in.
//   - "poll": GetLatestSignedLogRoot is polled every PollMS from the first
//     call, and the time is when the first answer covering the leaf
//     arrived. Each poll costs Trillian and MariaDB a few ms of CPU (two
//     transactions): polls every 5 ms would take most of a core.
type TrillianResult struct {
	Mode        string `json:"mode"` // queue or sequenced
	TreeID      int64  `json:"tree_id"`
	TreeCreated bool   `json:"tree_created"`
	Leaves      int    `json:"leaves"`
	Accepted    int64  `json:"accepted"`
	Errors      int64  `json:"errors"`
	Concurrency int    `json:"concurrency"`
	// Batch is the leaves per AddSequencedLeaves call (sequenced only).
	Batch     int     `json:"batch,omitempty"`
	LeafBytes float64 `json:"mean_leaf_bytes"`
	StartSize uint64  `json:"start_size"`
	// Seconds is the wall time from the first call to the last answer;
	// Rate is Accepted over it.
	Seconds           float64 `json:"seconds"`
	Rate              float64 `json:"leaves_per_second"`
	IntegrationSource string  `json:"integration_source"`
	PollMS            float64 `json:"poll_ms"`
	// Acknowledgement to integration, over IntegrationSamples leaves
	// (every accepted leaf whose index is known and that was integrated
	// within --wait).
	IntegrationSamples int     `json:"integration_samples"`
	IntegrationP50     float64 `json:"ack_to_root_p50_ms"`
	IntegrationP99     float64 `json:"ack_to_root_p99_ms"`
	IntegrationMax     float64 `json:"ack_to_root_max_ms"`
	// Poll only: the same, to the timestamp inside the first polled root
	// covering the leaf (when the signer made it): free of the poll's
	// delay, but late when two roots came between two polls.
	SignedP50 float64 `json:"ack_to_root_timestamp_p50_ms,omitempty"`
	SignedP99 float64 `json:"ack_to_root_timestamp_p99_ms,omitempty"`
	// AllIntegrated is the time from the first call until a root covered
	// every accepted leaf (-1 if none did within --wait after the last
	// answer); IntegratedRate is Accepted over it.
	AllIntegrated  float64 `json:"seconds_to_integrate_all"`
	IntegratedRate float64 `json:"integrated_per_second,omitempty"`
	// IndexedLeaves is how many accepted leaves were found in the tree
	// (QueueLeaf: read back by hash; AddSequencedLeaves: all accepted, at
	// the indices given, once integrated).
	IndexedLeaves int64 `json:"indexed_leaves"`
	// CPU is the CPU time (user+sys) of the processes of --pids from the
	// first call until a polled root covered every leaf (or --wait ran
	// out), in ms
	// per 1,000 accepted leaves: summed, and per process.
	CPUPer1000 float64      `json:"cpu_ms_per_1000_entries,omitempty"`
	CPU        []ProcessCPU `json:"cpu,omitempty"`
	// IdleCPU is the same processes' CPU time per second over --idle
	// just before the load: what they use with no leaves to handle (the
	// signer visits every active tree each interval), and anything else
	// on the same server. It is not subtracted from CPUPer1000.
	IdleCPU float64 `json:"idle_cpu_ms_per_second,omitempty"`
	// Inclusion proofs: GetInclusionProof for uniformly random accepted
	// leaves at the tree size of the latest root, from Concurrency
	// clients for ProofSeconds; every proof is verified against that
	// root. ProofCPUPer1000 is the --pids' CPU time per 1,000 proofs.
	ProofTreeSize   uint64  `json:"proof_tree_size"`
	ProofSeconds    float64 `json:"proof_seconds"`
	Proofs          int64   `json:"proofs"`
	ProofRate       float64 `json:"proofs_per_second"`
	ProofErrors     int64   `json:"proof_errors"`
	ProofCPUPer1000 float64 `json:"proof_cpu_ms_per_1000_proofs,omitempty"`
}

// ProcessCPU is one process's share of TrillianResult.CPU.
type ProcessCPU struct {
	PID     int     `json:"pid"`
	Name    string  `json:"name"`
	MS      float64 `json:"cpu_ms"`
	Per1000 float64 `json:"ms_per_1000_entries,omitempty"`
}

// pidList is the --pids flag: process IDs, comma-separated.
type pidList []int

func (p *pidList) String() string {
	s := make([]string, len(*p))
	for i, v := range *p {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (p *pidList) Set(v string) error {
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return fmt.Errorf("invalid PID %q", f)
		}
		*p = append(*p, n)
	}
	return nil
}

// cpuOf returns the CPU time of each process.
func cpuOf(pids []int) ([]time.Duration, error) {
	out := make([]time.Duration, len(pids))
	for i, p := range pids {
		var err error
		if out[i], err = processCPU(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func processName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// latestRoot returns the tree's latest signed root.
func latestRoot(ctx context.Context, c tpb.TrillianLogClient, tree int64) (*types.LogRootV1, error) {
	resp, err := c.GetLatestSignedLogRoot(ctx, &tpb.GetLatestSignedLogRootRequest{LogId: tree})
	if err != nil {
		return nil, err
	}
	var r types.LogRootV1
	if err := r.UnmarshalBinary(resp.GetSignedLogRoot().GetLogRoot()); err != nil {
		return nil, fmt.Errorf("the tree's log root: %w", err)
	}
	return &r, nil
}

// createTree creates and initialises a tree of the given type (LOG or
// PREORDERED_LOG) with the RFC 6962 SHA-256 hasher and an hour's maximum
// root duration, as scripts/trillian.sh's createtree does.
func createTree(ctx context.Context, conn *grpc.ClientConn, kind string) (int64, error) {
	tt, ok := tpb.TreeType_value[kind]
	if !ok || (tpb.TreeType(tt) != tpb.TreeType_LOG && tpb.TreeType(tt) != tpb.TreeType_PREORDERED_LOG) {
		return 0, fmt.Errorf("--create %q: want LOG or PREORDERED_LOG", kind)
	}
	tree, err := tpb.NewTrillianAdminClient(conn).CreateTree(ctx, &tpb.CreateTreeRequest{Tree: &tpb.Tree{
		TreeState:       tpb.TreeState_ACTIVE,
		TreeType:        tpb.TreeType(tt),
		DisplayName:     "fwbench",
		Description:     "fwbench trillian, " + time.Now().UTC().Format(time.RFC3339),
		MaxRootDuration: durationpb.New(time.Hour),
	}})
	if err != nil {
		return 0, fmt.Errorf("CreateTree: %w", err)
	}
	lc := tpb.NewTrillianLogClient(conn)
	if _, err := lc.InitLog(ctx, &tpb.InitLogRequest{LogId: tree.TreeId}); err != nil {
		return 0, fmt.Errorf("InitLog(%d): %w", tree.TreeId, err)
	}
	// The first root may take a moment to be readable.
	for {
		_, err := latestRoot(ctx, lc, tree.TreeId)
		if err == nil {
			return tree.TreeId, nil
		}
		if status.Code(err) != codes.FailedPrecondition && status.Code(err) != codes.NotFound {
			return 0, fmt.Errorf("the new tree %d's root: %w", tree.TreeId, err)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("the new tree %d has no root: %w", tree.TreeId, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type treeHead struct {
	nanos int64
	size  uint64
}

// treeHeads returns the roots of the tree larger than size, in the order
// they were signed, from Trillian's TreeHead table.
func treeHeads(ctx context.Context, db *sql.DB, tree int64, size uint64) ([]treeHead, error) {
	rows, err := db.QueryContext(ctx, `SELECT TreeHeadTimestamp, TreeSize FROM TreeHead WHERE TreeId = ? AND TreeSize > ? ORDER BY TreeHeadTimestamp`, tree, size)
	if err != nil {
		return nil, fmt.Errorf("Trillian's TreeHead table: %w", err)
	}
	defer rows.Close()
	var out []treeHead
	for rows.Next() {
		var h treeHead
		if err := rows.Scan(&h.nanos, &h.size); err != nil {
			return nil, fmt.Errorf("Trillian's TreeHead table: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// warmUp adds one leaf that is not a release to a new, empty tree, and
// waits until a root covers it.
func warmUp(ctx context.Context, lc tpb.TrillianLogClient, tree int64, mode string, wait time.Duration) error {
	t0 := time.Now()
	leaf := &tpb.LogLeaf{LeafValue: []byte("fwbench warm-up " + t0.UTC().Format(time.RFC3339Nano))}
	var err error
	if mode == "queue" {
		_, err = lc.QueueLeaf(ctx, &tpb.QueueLeafRequest{LogId: tree, Leaf: leaf})
	} else {
		var resp *tpb.AddSequencedLeavesResponse
		resp, err = lc.AddSequencedLeaves(ctx, &tpb.AddSequencedLeavesRequest{LogId: tree, Leaves: []*tpb.LogLeaf{leaf}})
		if err == nil && codes.Code(resp.GetResults()[0].GetStatus().GetCode()) != codes.OK {
			err = errors.New(resp.GetResults()[0].GetStatus().GetMessage())
		}
	}
	if err != nil {
		return fmt.Errorf("the warm-up leaf: %w", err)
	}
	for time.Since(t0) < wait {
		if r, err := latestRoot(ctx, lc, tree); err == nil && r.TreeSize > 0 {
			fmt.Fprintf(os.Stderr, "the signer integrated a warm-up leaf into the new tree in %s\n", time.Since(t0).Round(time.Millisecond))
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the signer did not integrate a leaf into the new tree %d in %s: is trillian_log_signer running?", tree, wait)
}

func trillianPhase(args []string) (err error) {
	fs := flag.NewFlagSet("trillian", flag.ExitOnError)
	addr := fs.String("trillian", "127.0.0.1:8090", "Trillian log server's gRPC address")
	treeID := fs.Int64("tree", 0, "the tree to load (LOG for queue, PREORDERED_LOG for sequenced)")
	create := fs.String("create", "", "create a fresh tree of this type (LOG or PREORDERED_LOG) instead of --tree, and print its ID; with --entries 0, only that")
	del := fs.Bool("delete", false, "delete the tree at the end (only one --create made, or, with --entries 0, --tree)")
	mode := fs.String("mode", "", "queue (QueueLeaf, one leaf a call) or sequenced (AddSequencedLeaves in batches, consecutive indices from the tree's size); default: from --create")
	keyFile := fs.String("key", "", "release private key (the leaves are fwbench append's release envelopes)")
	n := fs.Int("entries", 100000, "leaves to submit")
	conc := fs.Int("concurrency", 64, "concurrent calls")
	batch := fs.Int("batch", 1000, "sequenced: leaves per AddSequencedLeaves call")
	seed := fs.Int("seed", 0, "first release number (for distinct leaves across runs)")
	var pids pidList
	fs.Var(&pids, "pids", "comma-separated PIDs whose CPU time to count (trillian_log_server, trillian_log_signer, mariadbd)")
	poll := fs.Duration("poll", 50*time.Millisecond, "interval between GetLatestSignedLogRoot polls (with --trillian-db, only once the load is over)")
	trillianDB := fs.String("trillian-db", "", "DSN of Trillian's MySQL database (user:password@tcp(host:port)/trillian): time integration from its TreeHead table, and poll nothing during the load")
	idle := fs.Duration("idle", 5*time.Second, "with --pids, measure their CPU time for this long before the load (0: not)")
	wait := fs.Duration("wait", 2*time.Minute, "after the last answer, how long to wait for every leaf to be integrated")
	proofDur := fs.Duration("proof-duration", 10*time.Second, "how long to request inclusion proofs (0: not at all)")
	fs.Parse(args)

	if *create != "" && *mode == "" {
		*mode = map[string]string{"LOG": "queue", "PREORDERED_LOG": "sequenced"}[*create]
	}
	wantType := map[string]string{"queue": "LOG", "sequenced": "PREORDERED_LOG"}[*mode]
	switch {
	case *create != "" && *treeID != 0:
		return errors.New("--tree and --create exclude each other")
	case *n == 0 && *create == "" && !(*del && *treeID != 0):
		return errors.New("--entries 0 needs --create TYPE (create a tree), or --tree ID --delete (delete one)")
	case *n == 0:
	case wantType == "":
		return fmt.Errorf("--mode %q: want queue or sequenced", *mode)
	case *create != "" && *create != wantType:
		return fmt.Errorf("--mode %s needs a %s tree, not --create %s", *mode, wantType, *create)
	case *create == "" && *treeID == 0:
		return errors.New("give --tree ID or --create " + wantType)
	case *n < 0 || *conc < 1 || *batch < 1:
		return errors.New("--entries, --concurrency and --batch must be positive")
	case *poll <= 0:
		return errors.New("--poll must be positive")
	}

	var signer dsse.SignerVerifier
	if *n > 0 {
		k, err := keys.LoadPrivate(*keyFile)
		if err != nil {
			return err
		}
		if signer, err = k.DSSESigner(); err != nil {
			return err
		}
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	lc := tpb.NewTrillianLogClient(conn)
	ctx := context.Background()
	deleteTree := func() error {
		if _, err := tpb.NewTrillianAdminClient(conn).DeleteTree(ctx, &tpb.DeleteTreeRequest{TreeId: *treeID}); err != nil {
			return fmt.Errorf("DeleteTree(%d): %w", *treeID, err)
		}
		fmt.Fprintf(os.Stderr, "deleted tree %d\n", *treeID)
		return nil
	}
	if *n == 0 && *create == "" {
		return deleteTree()
	}
	if *create != "" {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		*treeID, err = createTree(cctx, conn, *create)
		cancel()
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "created %s tree %d\n", *create, *treeID)
		if *n == 0 {
			fmt.Println(*treeID)
		}
		if *del {
			// Whatever happens next.
			defer func() {
				if derr := deleteTree(); err == nil {
					err = derr
				}
			}()
		}
		if *n == 0 {
			return nil
		}
	}

	// Check the tree's type before signing anything.
	tree, err := tpb.NewTrillianAdminClient(conn).GetTree(ctx, &tpb.GetTreeRequest{TreeId: *treeID})
	if err != nil {
		return fmt.Errorf("GetTree(%d): %w", *treeID, err)
	}
	if tree.TreeType.String() != wantType {
		return fmt.Errorf("tree %d is a %s tree; --mode %s needs a %s tree", *treeID, tree.TreeType, *mode, wantType)
	}

	t0 := time.Now()
	leaves, err := makeEnvelopes(signer, nil, *seed, *n)
	if err != nil {
		return err
	}
	hashes := make([][]byte, *n)
	var leafBytes int
	for i, l := range leaves {
		hashes[i] = tiles.LeafHash(l)
		leafBytes += len(l)
	}
	fmt.Fprintf(os.Stderr, "signed %d envelopes in %s\n", *n, time.Since(t0).Round(time.Millisecond))

	if *create != "" {
		// The signer takes a moment to notice a new tree and act as its
		// master: one leaf, integrated before the clock starts, keeps that
		// delay out of the measurement.
		if err := warmUp(ctx, lc, *treeID, *mode, *wait); err != nil {
			return err
		}
	}
	root0, err := latestRoot(ctx, lc, *treeID)
	if err != nil {
		return fmt.Errorf("GetLatestSignedLogRoot(%d): %w", *treeID, err)
	}
	start := root0.TreeSize
	res := TrillianResult{
		Mode: *mode, TreeID: *treeID, TreeCreated: *create != "", Leaves: *n, Concurrency: *conc,
		LeafBytes: float64(leafBytes) / float64(*n), StartSize: start, PollMS: float64(*poll) / float64(time.Millisecond),
		AllIntegrated: -1, IntegrationSource: "poll",
	}
	var tdb *sql.DB
	if *trillianDB != "" {
		res.IntegrationSource = "trillian-db"
		cfg, err := mysql.ParseDSN(*trillianDB)
		if err != nil {
			return fmt.Errorf("--trillian-db: %w", err)
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return fmt.Errorf("--trillian-db: %w", err)
		}
		tdb = sql.OpenDB(conn)
		defer tdb.Close()
		if _, err := treeHeads(ctx, tdb, *treeID, start); err != nil {
			return err
		}
	}
	if *mode == "sequenced" {
		res.Batch = *batch
	}

	if len(pids) > 0 && *idle > 0 {
		c0, err := cpuOf(pids)
		if err != nil {
			return err
		}
		t := time.Now()
		time.Sleep(*idle)
		c1, err := cpuOf(pids)
		if err != nil {
			return err
		}
		var sum time.Duration
		for i := range pids {
			sum += c1[i] - c0[i]
		}
		res.IdleCPU = float64(sum.Milliseconds()) / time.Since(t).Seconds()
		fmt.Fprintf(os.Stderr, "idle: %.0f ms of CPU a second\n", res.IdleCPU)
	}

	// ackAt[i] is when leaf i (in submission order) was acknowledged, in
	// ns since begin, or 0. seenAt[p] and signedAt[p] are when a polled
	// root first covered tree position start+p, and that root's timestamp.
	ackAt := make([]int64, *n)
	seenAt := make([]int64, *n)
	signedAt := make([]int64, *n)
	var accepted, errCount atomic.Int64
	cpu0, err := cpuOf(pids)
	if err != nil {
		return err
	}
	var cpu1 []time.Duration
	begin := time.Now()
	since := func() int64 { return max(time.Since(begin).Nanoseconds(), 1) }

	// The root watcher. target is the tree size that covers every leaf:
	// start+n until the load ends, then start+accepted.
	var target atomic.Uint64
	target.Store(start + uint64(*n))
	var allAt atomic.Int64 // ns since begin when a root covered target
	var treeSize atomic.Uint64
	treeSize.Store(start)
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if tdb != nil {
			// Nothing polled during the load.
			select {
			case <-loadDone:
			case <-stopWatch:
				return
			}
		}
		seen := start
		tick := time.NewTicker(*poll)
		defer tick.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-tick.C:
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			r, err := latestRoot(pctx, lc, *treeID)
			cancel()
			if err != nil {
				continue
			}
			now := since()
			signed := int64(r.TimestampNanos) - begin.UnixNano()
			for ; seen < r.TreeSize && seen-start < uint64(*n); seen++ {
				seenAt[seen-start], signedAt[seen-start] = now, signed
			}
			treeSize.Store(r.TreeSize)
			if r.TreeSize >= target.Load() {
				// Every leaf is covered (a load with errors lowers
				// target once it ends).
				if c, err := cpuOf(pids); err == nil {
					cpu1 = c
				}
				allAt.Store(now)
				return
			}
		}
	}()

	// The load.
	var next atomic.Int64
	var wg sync.WaitGroup
	logErr := func(format string, a ...any) {
		if errCount.Add(1) <= 5 {
			fmt.Fprintf(os.Stderr, format+"\n", a...)
		}
	}
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if *mode == "queue" {
				for {
					i := int(next.Add(1) - 1)
					if i >= *n {
						return
					}
					resp, err := lc.QueueLeaf(ctx, &tpb.QueueLeafRequest{LogId: *treeID, Leaf: &tpb.LogLeaf{LeafValue: leaves[i]}})
					if err != nil {
						logErr("QueueLeaf: %v", err)
						continue
					}
					if c := codes.Code(resp.GetQueuedLeaf().GetStatus().GetCode()); c != codes.OK {
						logErr("QueueLeaf: %v %s", c, resp.GetQueuedLeaf().GetStatus().GetMessage())
						continue
					}
					ackAt[i] = since()
					accepted.Add(1)
				}
			}
			for { // sequenced
				from := int(next.Add(int64(*batch)) - int64(*batch))
				if from >= *n {
					return
				}
				to := min(from+*batch, *n)
				req := &tpb.AddSequencedLeavesRequest{LogId: *treeID, Leaves: make([]*tpb.LogLeaf, 0, to-from)}
				for i := from; i < to; i++ {
					req.Leaves = append(req.Leaves, &tpb.LogLeaf{LeafIndex: int64(start) + int64(i), LeafValue: leaves[i], LeafIdentityHash: hashes[i]})
				}
				resp, err := lc.AddSequencedLeaves(ctx, req)
				if err != nil {
					logErr("AddSequencedLeaves(%d, %d leaves): %v", int(start)+from, to-from, err)
					errCount.Add(int64(to - from - 1))
					continue
				}
				now := since()
				ok := 0
				for j, r := range resp.GetResults() {
					if c := codes.Code(r.GetStatus().GetCode()); c != codes.OK {
						logErr("AddSequencedLeaves: leaf %d: %v %s", int(start)+from+j, c, r.GetStatus().GetMessage())
						continue
					}
					ackAt[from+j] = now
					ok++
				}
				if len(resp.GetResults()) != to-from {
					logErr("AddSequencedLeaves: %d results for %d leaves", len(resp.GetResults()), to-from)
				}
				accepted.Add(int64(ok))
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	progress := time.NewTicker(5 * time.Second)
loop:
	for {
		select {
		case <-finished:
			break loop
		case <-progress.C:
			a := accepted.Load()
			fmt.Fprintf(os.Stderr, "accepted %d/%d leaves (%.0f/s)\n", a, *n, float64(a)/time.Since(begin).Seconds())
		}
	}
	progress.Stop()
	elapsed := time.Since(begin)
	close(loadDone)
	res.Accepted, res.Errors = accepted.Load(), errCount.Load()
	res.Seconds = elapsed.Seconds()
	res.Rate = float64(res.Accepted) / res.Seconds
	fmt.Fprintf(os.Stderr, "accepted %d leaves in %s (%.0f/s), %d errors; waiting for integration\n", res.Accepted, elapsed.Round(time.Millisecond), res.Rate, res.Errors)

	// Wait for the last leaves to be integrated.
	target.Store(start + uint64(res.Accepted))
	timeout := time.After(*wait)
	waitProgress := time.NewTicker(5 * time.Second)
waitLoop:
	for {
		select {
		case <-watchDone:
			break waitLoop
		case <-waitProgress.C:
			fmt.Fprintf(os.Stderr, "integrated %d/%d leaves\n", treeSize.Load()-start, res.Accepted)
		case <-timeout:
			close(stopWatch)
			<-watchDone
			fmt.Fprintf(os.Stderr, "after %s, a root covers %d of the %d accepted leaves\n", *wait, treeSize.Load()-start, res.Accepted)
			break waitLoop
		}
	}
	waitProgress.Stop()
	if cpu1 == nil {
		if cpu1, err = cpuOf(pids); err != nil {
			return err
		}
	}
	if a := allAt.Load(); a > 0 {
		res.AllIntegrated = float64(a) / 1e9
		res.IntegratedRate = float64(res.Accepted) / res.AllIntegrated
		fmt.Fprintf(os.Stderr, "a polled root covered every accepted leaf %.2f s after the first call\n", res.AllIntegrated)
	}
	if res.Accepted > 0 {
		var sum time.Duration
		for i, p := range pids {
			d := cpu1[i] - cpu0[i]
			sum += d
			res.CPU = append(res.CPU, ProcessCPU{PID: p, Name: processName(p), MS: float64(d.Milliseconds()), Per1000: float64(d.Milliseconds()) * 1000 / float64(res.Accepted)})
		}
		if len(pids) > 0 {
			res.CPUPer1000 = float64(sum.Milliseconds()) * 1000 / float64(res.Accepted)
		}
	}

	// Each accepted leaf's tree position, and the leaf hash at each
	// position: given (sequenced), or read back (queue).
	pos := make([]int, *n) // -1: unknown
	hashAt := make([][]byte, *n)
	integrated := treeSize.Load()
	for i := range pos {
		pos[i] = -1
	}
	if *mode == "sequenced" {
		for i := range pos {
			if ackAt[i] > 0 && start+uint64(i) < integrated {
				pos[i], hashAt[i] = i, hashes[i]
				res.IndexedLeaves++
			}
		}
	} else {
		byHash := make(map[[32]byte]int, *n)
		for i, h := range hashes {
			if ackAt[i] > 0 {
				byHash[[32]byte(h)] = i
			}
		}
		t1 := time.Now()
		end := min(integrated, start+uint64(*n))
		for next := start; next < end; {
			resp, err := lc.GetLeavesByRange(ctx, &tpb.GetLeavesByRangeRequest{LogId: *treeID, StartIndex: int64(next), Count: int64(min(end-next, 1000))}, grpc.MaxCallRecvMsgSize(256<<20))
			if err != nil {
				return fmt.Errorf("GetLeavesByRange(%d): %w", next, err)
			}
			if len(resp.GetLeaves()) == 0 {
				return fmt.Errorf("GetLeavesByRange(%d): no leaves below the tree size %d", next, end)
			}
			for _, l := range resp.GetLeaves() {
				idx := uint64(l.GetLeafIndex())
				if idx < start || idx >= end || len(l.GetMerkleLeafHash()) != 32 {
					continue
				}
				if i, ok := byHash[[32]byte(l.GetMerkleLeafHash())]; ok && pos[i] < 0 {
					pos[i], hashAt[idx-start] = int(idx-start), l.GetMerkleLeafHash()
					res.IndexedLeaves++
				}
			}
			next = uint64(resp.GetLeaves()[len(resp.GetLeaves())-1].GetLeafIndex()) + 1
		}
		fmt.Fprintf(os.Stderr, "read back %d leaves in %s: found %d of the %d accepted\n", end-start, time.Since(t1).Round(time.Millisecond), res.IndexedLeaves, res.Accepted)
	}
	if tdb != nil {
		// The time of the first root covering each position, from
		// Trillian's table of roots.
		heads, err := treeHeads(ctx, tdb, *treeID, start)
		if err != nil {
			return err
		}
		clear(seenAt)
		covered := start
		for _, h := range heads {
			for ; covered < h.size && covered-start < uint64(*n); covered++ {
				seenAt[covered-start] = max(h.nanos-begin.UnixNano(), 1)
			}
		}
		res.AllIntegrated = -1
		if res.Accepted > 0 && covered >= start+uint64(res.Accepted) {
			res.AllIntegrated = float64(seenAt[res.Accepted-1]) / 1e9
		}
		if res.AllIntegrated > 0 {
			res.IntegratedRate = float64(res.Accepted) / res.AllIntegrated
		} else {
			res.IntegratedRate = 0
		}
		fmt.Fprintf(os.Stderr, "%d roots signed since the first call; by them, every accepted leaf was integrated %.2f s after it\n", len(heads), res.AllIntegrated)
	}
	var lat, signedLat []float64
	for i, p := range pos {
		if p < 0 || ackAt[i] == 0 || seenAt[p] == 0 {
			continue
		}
		lat = append(lat, float64(max(seenAt[p]-ackAt[i], 0))/1e6)
		if tdb == nil {
			signedLat = append(signedLat, float64(max(signedAt[p]-ackAt[i], 0))/1e6)
		}
	}
	slices.Sort(lat)
	slices.Sort(signedLat)
	pct := func(v []float64, p float64) float64 {
		if len(v) == 0 {
			return -1
		}
		return v[min(len(v)-1, int(p*float64(len(v))))]
	}
	res.IntegrationSamples = len(lat)
	res.IntegrationP50, res.IntegrationP99, res.IntegrationMax = pct(lat, 0.50), pct(lat, 0.99), pct(lat, 1)
	if tdb == nil {
		res.SignedP50, res.SignedP99 = pct(signedLat, 0.50), pct(signedLat, 0.99)
	}

	// Inclusion proofs at the latest size, for random integrated leaves
	// whose hash is known, each verified.
	var known []int
	for p, h := range hashAt {
		if h != nil {
			known = append(known, p)
		}
	}
	if *proofDur > 0 && len(known) > 0 {
		root, err := latestRoot(ctx, lc, *treeID)
		if err != nil {
			return err
		}
		res.ProofTreeSize = root.TreeSize
		pc0, err := cpuOf(pids)
		if err != nil {
			return err
		}
		var count, perr atomic.Int64
		pbegin := time.Now()
		deadline := pbegin.Add(*proofDur)
		var pwg sync.WaitGroup
		for w := 0; w < *conc; w++ {
			pwg.Add(1)
			go func(w int) {
				defer pwg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 7))
				for time.Now().Before(deadline) {
					p := known[r.IntN(len(known))]
					idx := start + uint64(p)
					resp, err := lc.GetInclusionProof(ctx, &tpb.GetInclusionProofRequest{LogId: *treeID, LeafIndex: int64(idx), TreeSize: int64(root.TreeSize)})
					if err == nil {
						err = proof.VerifyInclusion(rfc6962.DefaultHasher, idx, root.TreeSize, hashAt[p], resp.GetProof().GetHashes(), root.RootHash)
					}
					if err != nil {
						if perr.Add(1) <= 5 {
							fmt.Fprintf(os.Stderr, "inclusion proof of %d at %d: %v\n", idx, root.TreeSize, err)
						}
						continue
					}
					count.Add(1)
				}
			}(w)
		}
		pwg.Wait()
		pel := time.Since(pbegin)
		pc1, err := cpuOf(pids)
		if err != nil {
			return err
		}
		res.ProofSeconds, res.Proofs, res.ProofErrors = pel.Seconds(), count.Load(), perr.Load()
		res.ProofRate = float64(res.Proofs) / pel.Seconds()
		if len(pids) > 0 && res.Proofs > 0 {
			var sum time.Duration
			for i := range pids {
				sum += pc1[i] - pc0[i]
			}
			res.ProofCPUPer1000 = float64(sum.Milliseconds()) * 1000 / float64(res.Proofs)
		}
		fmt.Fprintf(os.Stderr, "inclusion proofs: %.0f/s, %d errors\n", res.ProofRate, res.ProofErrors)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// CPUResult is what the cpu phase reports.
type CPUResult struct {
	MS  float64      `json:"cpu_ms"`
	CPU []ProcessCPU `json:"cpu"`
}

// cpuPhase prints the CPU time (user+sys) the given processes have used so
// far, for a script to take before and after a load it runs otherwise
// (fwlog's frontends with Trillian and MariaDB behind them).
func cpuPhase(args []string) error {
	fs := flag.NewFlagSet("cpu", flag.ExitOnError)
	var pids pidList
	fs.Var(&pids, "pids", "comma-separated PIDs")
	fs.Parse(args)
	if len(pids) == 0 {
		return errors.New("--pids is required")
	}
	c, err := cpuOf(pids)
	if err != nil {
		return err
	}
	var res CPUResult
	for i, p := range pids {
		ms := float64(c[i].Milliseconds())
		res.MS += ms
		res.CPU = append(res.CPU, ProcessCPU{PID: p, Name: processName(p), MS: ms})
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
