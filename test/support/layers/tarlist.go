// tarlist prints how Go's archive/tar reads each tar file named on the command line: one JSON
// line per file, {"entries":[...]} and "error" when Next or Read failed. Bodies are read to
// the end, so a short body is an error here as it is for containerd.
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"strings"
)

type entry struct {
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Size     int64             `json:"size"`
	Linkname string            `json:"linkname"`
	Mode     int64             `json:"mode"`
	Uid      int               `json:"uid"`
	Gid      int               `json:"gid"`
	Mtime    float64           `json:"mtime"`
	Devmajor int64             `json:"devmajor"`
	Devminor int64             `json:"devminor"`
	Xattrs   map[string]string `json:"xattrs"`
	Body     string            `json:"body"`
}

type result struct {
	Entries []entry `json:"entries"`
	Error   string  `json:"error,omitempty"`
}

func list(path string) result {
	res := result{Entries: []entry{}}
	f, err := os.Open(path)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer f.Close()
	// no Seek: the reader sees a stream, as containerd's decompressor gives it
	tr := tar.NewReader(struct{ io.Reader }{f})
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return res
		}
		if err != nil {
			res.Error = err.Error()
			return res
		}
		// values in hex: JSON strings cannot carry arbitrary bytes
		xattrs := map[string]string{}
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				xattrs[k[len("SCHILY.xattr."):]] = hex.EncodeToString([]byte(v))
			}
		}
		sum := sha256.New()
		_, err = io.Copy(sum, tr)
		res.Entries = append(res.Entries, entry{
			Name: h.Name, Type: string([]byte{h.Typeflag}), Size: h.Size, Linkname: h.Linkname,
			Mode: h.Mode, Uid: h.Uid, Gid: h.Gid, Mtime: float64(h.ModTime.Unix()) + float64(h.ModTime.Nanosecond())/1e9,
			Devmajor: h.Devmajor, Devminor: h.Devminor, Xattrs: xattrs,
			Body: hex.EncodeToString(sum.Sum(nil))[:16],
		})
		if err != nil {
			res.Error = err.Error()
			return res
		}
	}
}

func main() {
	out := json.NewEncoder(os.Stdout)
	for _, path := range os.Args[1:] {
		if err := out.Encode(list(path)); err != nil {
			os.Exit(1)
		}
	}
}
