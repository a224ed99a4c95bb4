// Package s3offload moves a worker's task payloads between S3 and the
// task's folder (PROTOCOL.md §4). A worker uses it by naming New in its
// configuration; a worker that does not import it links no S3 client:
//
//	cfg, err := worker.FromEnv(lookup) // S3_ENDPOINT_URL, S3_ACCESS_KEY, ...
//	cfg.NewOffload = s3offload.New
//	w, err := worker.New(cfg)
//
// Inbound, every "s3://bucket/key" string in the params (at any depth)
// is streamed to PayloadDir/{task_id}/{basename} (a key ending in "/"
// brings the whole prefix as a folder) and replaced by the local path; a
// size differing from params_metadata fails the task with
// INTEGRITY_MISMATCH_ERROR, any other download error with
// TRANSIENT_ERROR.
//
// Outbound, every string in the result data that is an absolute path to
// an existing file or folder is uploaded to s3://{bucket}/{job_id}/{basename}
// (folders recursively, the URI then ends in "/"), replaced by the URI
// and described in data_metadata. Only paths inside PayloadDir are
// uploaded: an existing path anywhere else (symbolic links resolved) is
// refused and fails the task with PERMANENT_ERROR, since a retry of the
// same handler would name it again.
package s3offload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

// offload is the worker.Offload of one S3 endpoint and bucket.
type offload struct {
	cli    *s3.Client
	bucket string
	dir    string // PayloadDir, cleaned
	hashed string
}

// New makes the S3 offload of cfg.S3: path-style requests to
// cfg.S3.Endpoint with static credentials, through cfg.HTTPClient. It is
// a worker.Config's NewOffload, which worker.New calls with the defaults
// filled in. With no endpoint it returns nil (no offload); with an
// endpoint but no access key or secret key, an error naming them.
func New(cfg worker.Config) (worker.Offload, error) {
	c := cfg.S3
	if c.Endpoint == "" {
		return nil, nil
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		return nil, errors.New("S3_ENDPOINT_URL is set: S3_ACCESS_KEY and S3_SECRET_KEY are required")
	}
	cli := s3.New(s3.Options{
		BaseEndpoint:               aws.String(c.Endpoint),
		Region:                     c.Region,
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, ""),
		HTTPClient:                 cfg.HTTPClient,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	o := &offload{cli: cli, bucket: c.Bucket, dir: filepath.Clean(cfg.PayloadDir), hashed: ConfigHash(c.Endpoint, c.AccessKey, c.Bucket)}
	return o, nil
}

// ConfigHash is capabilities.s3_config_hash: the first 16 hex digits of
// the SHA-256 of "endpoint|access_key|bucket".
func ConfigHash(endpoint, accessKey, bucket string) string {
	sum := sha256.Sum256([]byte(endpoint + "|" + accessKey + "|" + bucket))
	return hex.EncodeToString(sum[:])[:16]
}

func (o *offload) ConfigHash() string { return o.hashed }

// Download replaces s3:// URIs in t.Params by local paths.
func (o *offload) Download(ctx context.Context, t *worker.Task) error {
	if err := os.MkdirAll(t.PayloadDir, 0o755); err != nil {
		return fmt.Errorf("task folder: %w", err)
	}
	_, err := walk("", t.Params, func(p, s string) (any, error) {
		bucket, key, ok := splitURI(s)
		if !ok {
			return s, nil
		}
		local, err := o.fetch(ctx, t, bucket, key)
		if err != nil {
			return nil, fmt.Errorf("param %s (%s): %w", p, s, err)
		}
		if meta, ok := t.ParamsMetadata[p]; ok && !strings.HasSuffix(key, "/") {
			if err := checkFile(local, meta); err != nil {
				return nil, worker.WithCode(wire.CodeIntegrityMismatchError, fmt.Errorf("param %s (%s): %w", p, s, err))
			}
		}
		return local, nil
	})
	return err
}

// Upload replaces local paths in data by s3:// URIs and returns their
// data_metadata.
func (o *offload) Upload(ctx context.Context, t *worker.Task, data map[string]any) (map[string]wire.FileMetadata, error) {
	meta := map[string]wire.FileMetadata{}
	root := o.dir // with symbolic links resolved once it exists
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	_, err := walk("", data, func(p, s string) (any, error) {
		if !filepath.IsAbs(s) {
			return s, nil
		}
		fi, err := os.Stat(s)
		if err != nil {
			return s, nil // not a file: plain text
		}
		real, err := filepath.EvalSymlinks(s)
		if err != nil || !inside(root, real) {
			return nil, worker.Permanent(fmt.Errorf("result data %s names %q, which is outside the payload folder %s (TASK_FILES_DIR): only files there are uploaded", p, s, o.dir))
		}
		base := safeBase(filepath.Base(real))
		if fi.IsDir() {
			uri, size, err := o.putDir(ctx, real, t.JobID+"/"+base+"/")
			if err != nil {
				return nil, worker.Transient(fmt.Errorf("result data %s: %w", p, err))
			}
			meta[p] = wire.FileMetadata{URI: uri, Size: size}
			return uri, nil
		}
		key := t.JobID + "/" + base
		etag, err := o.put(ctx, real, key, fi.Size())
		if err != nil {
			return nil, worker.Transient(fmt.Errorf("result data %s: %w", p, err))
		}
		uri := "s3://" + o.bucket + "/" + key
		meta[p] = wire.FileMetadata{URI: uri, Size: fi.Size(), ETag: etag}
		return uri, nil
	})
	if err != nil || len(meta) == 0 {
		return nil, err
	}
	return meta, nil
}

// walk replaces each string in the JSON tree v by what leaf returns for
// it and its path (a, a.b, a[0]), in place; v itself is returned, or a
// new []any for a []string. Members are visited in key order, so an error
// names the same one every time.
func walk(p string, v any, leaf func(p, s string) (any, error)) (any, error) {
	switch x := v.(type) {
	case string:
		return leaf(p, x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			kp := k
			if p != "" {
				kp = p + "." + k
			}
			n, err := walk(kp, x[k], leaf)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
	case []any:
		for i, e := range x {
			n, err := walk(fmt.Sprintf("%s[%d]", p, i), e, leaf)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := walk(fmt.Sprintf("%s[%d]", p, i), e, leaf)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	}
	return v, nil
}

// splitURI splits s3://bucket/key.
func splitURI(s string) (bucket, key string, ok bool) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, key, ok = strings.Cut(rest, "/")
	return bucket, key, ok && bucket != "" && key != "" && key != "/"
}

func checkFile(local string, meta wire.FileMetadata) error {
	fi, err := os.Stat(local)
	if err != nil {
		return err
	}
	if meta.Size > 0 && fi.Size() != meta.Size {
		return fmt.Errorf("size %d, params_metadata says %d", fi.Size(), meta.Size)
	}
	return nil
}

// fetch streams one object (or, for a key ending in "/", every object
// under it) into the task folder and returns the local path.
func (o *offload) fetch(ctx context.Context, t *worker.Task, bucket, key string) (string, error) {
	if !strings.HasSuffix(key, "/") {
		dst := filepath.Join(t.PayloadDir, safeBase(path.Base(key)))
		return dst, o.get(ctx, bucket, key, dst)
	}
	dir := filepath.Join(t.PayloadDir, safeBase(path.Base(strings.TrimSuffix(key, "/"))))
	p := s3.NewListObjectsV2Paginator(o.cli, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list s3://%s/%s: %w", bucket, key, err)
		}
		for _, obj := range page.Contents {
			rel := strings.TrimPrefix(aws.ToString(obj.Key), key)
			if rel == "" || strings.HasSuffix(rel, "/") {
				continue
			}
			dst := filepath.Join(dir, filepath.FromSlash(rel))
			if !inside(dir, dst) {
				return "", fmt.Errorf("object key %q leaves the folder", aws.ToString(obj.Key))
			}
			if err := o.get(ctx, bucket, aws.ToString(obj.Key), dst); err != nil {
				return "", err
			}
		}
	}
	return dir, os.MkdirAll(dir, 0o755)
}

func safeBase(name string) string {
	if name == "" || name == "." || name == ".." || name == "/" {
		return "payload"
	}
	return name
}

func (o *offload) get(ctx context.Context, bucket, key, dst string) error {
	out, err := o.cli.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, out.Body); err != nil {
		f.Close()
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	return f.Close()
}

func (o *offload) put(ctx context.Context, local, key string, size int64) (string, error) {
	f, err := os.Open(local)
	if err != nil {
		return "", err
	}
	defer f.Close()
	out, err := o.cli.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(o.bucket), Key: aws.String(key), Body: f, ContentLength: aws.Int64(size),
	})
	if err != nil {
		return "", fmt.Errorf("put s3://%s/%s: %w", o.bucket, key, err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`), nil
}

func (o *offload) putDir(ctx context.Context, dir, prefix string) (string, int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // never follow links out of the folder
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		total += fi.Size()
		_, err = o.put(ctx, p, prefix+filepath.ToSlash(rel), fi.Size())
		return err
	})
	return "s3://" + o.bucket + "/" + prefix, total, err
}

// inside reports whether p is root or below it.
func inside(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
