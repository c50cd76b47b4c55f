package standins

import (
	"net/http"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/tests/fakecloud"
)

// The driver's rule for a released volume: its disk is deleted only after it had DetachTime
// to detach, and only while the add-on (the driver) is there. A destroy that removes the
// add-on right after the claim leaves the disk behind.
func TestReleasedVolumeIsDeletedAfterDetachWhileTheDriverRuns(t *testing.T) {
	t.Parallel()
	c, s, _ := start(t)
	const addonID = "kong:aws-ebs-csi-driver"
	if err := s.world.Put(fakecloud.Resource{Type: "aws:eks/addon:Addon", ID: addonID, Outputs: map[string]any{"addonName": "aws-ebs-csi-driver"}}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, c, "/apis/storage.k8s.io/v1/storageclasses", Object{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
		"metadata": Object{"name": "gp3"}, "provisioner": EBSDriver, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})

	claim := func(name string) string {
		mustCreate(t, c, "/api/v1/namespaces/default/persistentvolumeclaims", Object{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
			"metadata": Object{"name": name}, "spec": Object{"storageClassName": "gp3", "accessModes": []any{"ReadWriteOnce"},
				"resources": Object{"requests": Object{"storage": "1Gi"}}}})
		var id string
		waitFor(t, "a volume for "+name, func() bool {
			id = volumeOf(t, s, "default/"+name)
			return id != ""
		})
		if _, err := c.Do(http.MethodDelete, "/api/v1/namespaces/default/persistentvolumeclaims/"+name, nil); err != nil {
			t.Fatal(err)
		}
		return id
	}

	// With the driver running: still there just after release, gone after the detach.
	kept := claim("kept-while-attached")
	released := time.Now()
	waitFor(t, "the volume of the deleted claim to go", func() bool { return volumeOf(t, s, "default/kept-while-attached") == "" })
	if took := time.Since(released); took < DetachTime {
		t.Errorf("volume %s was deleted %v after its claim, before it could detach (%v)", kept, took, DetachTime)
	}

	// The driver removed right after the claim: the disk outlives it.
	orphan := claim("orphaned")
	if err := s.world.Remove("aws:eks/addon:Addon", addonID, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * DetachTime)
	if volumeOf(t, s, "default/orphaned") != orphan {
		t.Errorf("volume %s was deleted with no driver running", orphan)
	}
}

// volumeOf is the ID of the fake cloud's volume made for the claim ns/name, or "".
func volumeOf(t *testing.T, s *Standins, claim string) string {
	t.Helper()
	volumes, err := s.world.Volumes()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range volumes {
		if v.Claim == claim {
			return v.ID
		}
	}
	return ""
}

func waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
