package standins

import (
	"fmt"
	"net/http"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
	"github.com/kong-alb-eks/kong-alb-eks/tests/fakecloud"
)

// EBSDriver is the CSI driver name of the EBS CSI driver; AutoModeEBSDriver is EKS Auto Mode's
// built-in one's.
const (
	EBSDriver         = "ebs.csi.aws.com"
	AutoModeEBSDriver = "ebs.csi.eks.amazonaws.com"
)

// provisionerFinalizer is what the CSI external-provisioner puts on the volumes it makes, and
// removes after deleting the disk (kubernetes-csi/external-provisioner, pkg/controller:
// "external-provisioner.volume.kubernetes.io/finalizer").
const provisionerFinalizer = "external-provisioner.volume.kubernetes.io/finalizer"

// DetachTime is how long a released volume stays attached before the driver can delete it.
// The attach-detach controller detaches a volume only after its pod is gone, through the
// driver's ControllerUnpublishVolume (EC2 DetachVolume, which takes seconds); until its
// VolumeAttachment is gone the external-provisioner does not delete it ("persistentvolume %s
// is still attached to node", kubernetes-csi/external-provisioner pkg/controller) and retries,
// and EC2 itself refuses to delete an attached volume (VolumeInUse). On
// AWS this is tens of seconds; ten here are enough to lose the race against a destroy that
// removes the driver right after the claim.
const DetachTime = 10 * time.Second

// ebsCSIDriver stands in for the EBS CSI driver's controller, which runs only while the
// aws-ebs-csi-driver EKS add-on exists (the fake cloud's world says): for a claim of one of its
// StorageClasses that the scheduler has placed (WaitForFirstConsumer: the claim carries
// volume.kubernetes.io/selected-node), it makes an EBS volume in the world and a
// PersistentVolume bound to the claim; for a Released volume whose reclaim policy is Delete it
// deletes the EBS volume, then the PersistentVolume, once the volume has detached (DetachTime
// after the driver first saw it Released). Without the add-on nothing happens: a claim stays
// Pending, and a released volume and its disk stay, which the tests report. EKS Auto Mode's
// driver (ebs.csi.eks.amazonaws.com) behaves the same, while the world's cluster has block
// storage enabled (storageConfig.blockStorage).
func (s *Standins) ebsCSIDriver() error {
	drivers := map[string]bool{}
	running, err := s.addonExists("aws-ebs-csi-driver")
	if err != nil {
		return err
	}
	drivers[EBSDriver] = running
	auto, err := s.autoMode()
	if err != nil {
		return err
	}
	drivers[AutoModeEBSDriver] = auto.blockStorage
	if !drivers[EBSDriver] && !drivers[AutoModeEBSDriver] {
		return nil
	}
	classes, err := s.list("/apis/storage.k8s.io/v1/storageclasses")
	if err != nil {
		return err
	}
	ours := map[string]Object{}
	for _, sc := range classes {
		if drivers[fmt.Sprint(sc["provisioner"])] {
			ours[fmt.Sprint(meta(sc)["name"])] = sc
		}
	}
	claims, err := s.list("/api/v1/persistentvolumeclaims")
	if err != nil {
		return err
	}
	for _, pvc := range claims {
		sc, ok := ours[str(pvc, "spec", "storageClassName")]
		if !ok || str(pvc, "spec", "volumeName") != "" || meta(pvc)["deletionTimestamp"] != nil {
			continue
		}
		if sc["volumeBindingMode"] == "WaitForFirstConsumer" && str(meta(pvc), "annotations", "volume.kubernetes.io/selected-node") == "" {
			continue
		}
		if err := s.provision(pvc, sc); err != nil {
			return fmt.Errorf("provisioning %s: %w", nameOf(pvc), err)
		}
	}
	volumes, err := s.list("/api/v1/persistentvolumes")
	if err != nil {
		return err
	}
	for _, pv := range volumes {
		if !drivers[str(pv, "spec", "csi", "driver")] || str(pv, "status", "phase") != "Released" ||
			str(pv, "spec", "persistentVolumeReclaimPolicy") != "Delete" {
			continue
		}
		id := str(pv, "spec", "csi", "volumeHandle")
		if !s.detached(id) {
			continue
		}
		if err := s.world.RemoveVolume(id); err != nil {
			return err
		}
		path := "/api/v1/persistentvolumes/" + fmt.Sprint(meta(pv)["name"])
		if _, err := s.cluster.Do(http.MethodPatch, path, Object{"metadata": Object{"finalizers": without(finalizers(pv), provisionerFinalizer)}}); err != nil {
			return err
		}
		if _, err := s.cluster.Do(http.MethodDelete, path, nil); err != nil && !isNotFound(err) {
			return err
		}
		s.logf("ebs csi driver: volume %s of %s deleted", id, nameOf(pv))
	}
	return nil
}

func (s *Standins) provision(pvc, sc Object) error {
	uid := fmt.Sprint(meta(pvc)["uid"])
	name := "pvc-" + uid
	id := "vol-" + answers.HexOf(17, "volume", uid)
	if err := s.world.PutVolume(fakecloud.Volume{ID: id, Claim: nameOf(pvc)}); err != nil {
		return err
	}
	reclaim := sc["reclaimPolicy"]
	if reclaim == nil {
		reclaim = "Delete"
	}
	spec, _ := pvc["spec"].(Object)
	requests, _ := spec["resources"].(Object)["requests"].(Object)
	_, err := s.cluster.Do(http.MethodPost, "/api/v1/persistentvolumes", Object{
		"apiVersion": "v1", "kind": "PersistentVolume",
		"metadata": Object{"name": name, "finalizers": []any{provisionerFinalizer},
			"annotations": Object{"pv.kubernetes.io/provisioned-by": sc["provisioner"]}},
		"spec": Object{
			"capacity": Object{"storage": requests["storage"]}, "accessModes": spec["accessModes"],
			"persistentVolumeReclaimPolicy": reclaim, "storageClassName": meta(sc)["name"],
			"csi":      Object{"driver": sc["provisioner"], "volumeHandle": id, "fsType": "ext4"},
			"claimRef": Object{"namespace": meta(pvc)["namespace"], "name": meta(pvc)["name"], "uid": uid},
		},
	})
	if err != nil && !isAlreadyExists(err) {
		return err
	}
	s.logf("ebs csi driver: volume %s made for %s", id, nameOf(pvc))
	return nil
}

// addonExists reports whether the fake cloud holds the named EKS add-on.
func (s *Standins) addonExists(name string) (bool, error) {
	resources, err := s.world.Resources()
	if err != nil {
		return false, err
	}
	for _, r := range resources {
		if r.Type == "aws:eks/addon:Addon" && r.Outputs["addonName"] == name {
			return true, nil
		}
	}
	return false, nil
}

// detached reports whether the volume id, seen released, has had DetachTime to detach.
func (s *Standins) detached(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released == nil {
		s.released = map[string]time.Time{}
	}
	since, ok := s.released[id]
	if !ok {
		s.released[id] = time.Now()
		return false
	}
	return time.Since(since) >= DetachTime
}
