package cluster_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// TestFilesAcrossGateways: gateways sharing one file volume serve each
// other's uploads; a member removed through one gateway loses its URL on
// the other at once (the group change reaches every node).
func TestFilesAcrossGateways(t *testing.T) {
	e := newEnv(t, nil)
	e.filesDir = t.TempDir()
	a, b := e.gateway(t), e.gateway(t)
	for _, u := range []string{"ann", "bob"} {
		e.user(t, a, u)
	}
	ann, bob := e.connect(t, a, "ann", "phone"), e.connect(t, b, "bob", "phone")
	id := ann.nextID()
	ann.write(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_CreateGroup{CreateGroup: &magpiev1.CreateGroup{
		Id: "hikers", Name: "Hikers", MemberIds: []string{"bob"}}}})
	if f := ann.next(func(f *magpiev1.Frame) bool { return f.GetId() == id }); f.GetGroupInfo() == nil {
		t.Fatalf("create group: %v", f)
	}

	// ann uploads through A.
	tok, err := e.api(t, a).MintToken("ann", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	content := append([]byte("GIF89a"), bytes.Repeat([]byte{9}, 10_000)...)
	req, _ := http.NewRequest("POST", a.URL+"/v1/client/files?conv_id=g:hikers&name=wave.gif", bytes.NewReader(content))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "image/gif")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload through A = %d %s", resp.StatusCode, body)
	}
	fileID := strings.SplitN(strings.SplitN(string(body), `"id":"`, 2)[1], `"`, 2)[0]

	// bob, on B, gets a URL and downloads from B.
	id = bob.nextID()
	bob.write(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_GetFileUrl{GetFileUrl: &magpiev1.GetFileUrl{FileId: fileID}}})
	link := bob.next(func(f *magpiev1.Frame) bool { return f.GetId() == id }).GetFileLink()
	if link == nil {
		t.Fatal("bob got no file link on B")
	}
	download := func(g string) int {
		resp, err := http.Get(g + link.GetUrl())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK && !bytes.Equal(got, content) {
			t.Errorf("download from %s: %d bytes differ", g, len(got))
		}
		return resp.StatusCode
	}
	if st := download(b.URL); st != http.StatusOK {
		t.Fatalf("bob's download from B = %d", st)
	}
	if st := download(a.URL); st != http.StatusOK {
		t.Fatalf("bob's download from A = %d", st)
	}

	// ann removes bob through A: his URL stops working on B.
	id = ann.nextID()
	ann.write(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_RemoveGroupMembers{RemoveGroupMembers: &magpiev1.RemoveGroupMembers{
		GroupId: "hikers", UserIds: []string{"bob"}}}})
	if f := ann.next(func(f *magpiev1.Frame) bool { return f.GetId() == id }); f.GetGroupMembersResult() == nil {
		t.Fatalf("remove bob: %v", f)
	}
	eventually(t, func() bool { return download(b.URL) == http.StatusForbidden }, "bob's URL refused on B after his removal through A")
}

// eventually fails the test unless cond holds within 10 s.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
