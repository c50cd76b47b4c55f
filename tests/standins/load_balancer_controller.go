package standins

import (
	"fmt"
	"net/http"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

// IngressFinalizer is the finalizer the load balancer controller puts on an Ingress of an
// implicit group before it makes the ALB, and removes only after deleting it
// (aws-load-balancer-controller pkg/ingress/finalizer.go, "ingress.k8s.aws/resources").
const IngressFinalizer = "ingress.k8s.aws/resources"

// LoadBalancerControllerHold holds the controller's pods (the chart's selector label) un-Ready
// until loadBalancerControllerStart releases them.
var LoadBalancerControllerHold = localcluster.Hold{
	Query:  `.metadata.labels["app.kubernetes.io/name"]`,
	Values: []string{"aws-load-balancer-controller"},
}

// loadBalancerControllerStart makes the controller as slow to start as a real cluster can: its
// pods turn Ready only once the engine has waited on nothing else for a while. Helm creates the
// chart's webhook configurations with the Deployment (templates/webhook.yaml: vingress.elbv2.k8s.aws
// on every Ingress, failurePolicy webhookConfig.ingressValdationFailurePolicy, Fail by default),
// and on EKS the pods pass their readiness probe only after an image pull and the webhook
// server's start, seconds to a minute later. Whatever reaches the webhooks in between
// is refused ("no endpoints available"), so anything that does not wait for the controller
// is created in that window here, every time, instead of only when the race is lost.
func (s *Standins) loadBalancerControllerStart() error {
	if !s.engine.Stalled(quiet) {
		return nil
	}
	pods, err := s.list("/api/v1/pods?labelSelector=app.kubernetes.io/name%3Daws-load-balancer-controller")
	if err != nil {
		return err
	}
	for _, pod := range pods {
		if meta(pod)["deletionTimestamp"] != nil || str(meta(pod), "annotations", localcluster.HeldAnnotation) != "" {
			continue
		}
		role, via, err := s.PodCredentials(pod)
		if err != nil {
			s.fail(fmt.Sprintf("load balancer controller pod %s has no AWS credentials (it would fail every reconcile): %v", nameOf(pod), err))
			return nil
		}
		s.logf("load balancer controller: %s assumes %s through %s", nameOf(pod), role, via)
		if err := s.release(pod, "load balancer controller: %s Ready, the engine waiting on nothing else"); err != nil {
			return err
		}
	}
	return nil
}

// PodCredentials is the IAM role a pod's AWS SDK gets, and how (irsa or pod-identity), as EKS
// gives it (fakecloud.World.PodCredentials): from the service account's role-arn annotation
// (read now; the IRSA webhook reads it as the pod is created, and a change of it reaches the
// pods only with a new pod template, which the program's credentials annotation makes), or
// from a Pod Identity association that existed when the pod was created.
func (s *Standins) PodCredentials(pod Object) (role, via string, err error) {
	m := meta(pod)
	created, err := time.Parse(time.RFC3339, fmt.Sprint(m["creationTimestamp"]))
	if err != nil {
		return "", "", fmt.Errorf("pod %s: creationTimestamp: %w", nameOf(pod), err)
	}
	namespace := fmt.Sprint(m["namespace"])
	account := str(pod, "spec", "serviceAccountName")
	sa, err := s.cluster.Do(http.MethodGet, "/api/v1/namespaces/"+namespace+"/serviceaccounts/"+account, nil)
	if err != nil {
		return "", "", err
	}
	cluster, err := s.eksCluster()
	if err != nil {
		return "", "", err
	}
	return s.world.PodCredentials(cluster, namespace, account, created, str(meta(sa), "annotations", "eks.amazonaws.com/role-arn"))
}

// eksCluster is the name of the world's one EKS cluster.
func (s *Standins) eksCluster() (string, error) {
	all, err := s.world.Resources()
	if err != nil {
		return "", err
	}
	for _, r := range all {
		if r.Type == "aws:eks/cluster:Cluster" {
			return r.ID, nil
		}
	}
	return "", fmt.Errorf("the fake cloud has no EKS cluster")
}

// loadBalancerController reconciles the Ingresses of class alb, only while the controller's
// Deployment is Ready (nothing else would): it adds the finalizer, "makes" the ALB and writes
// its DNS name as status.loadBalancer.ingress[0].hostname (an ALB-shaped name in the region,
// the one the synth mocks answer too); on deletion it deletes the ALB and removes the
// finalizer. With the controller gone, a deleted Ingress stays Terminating for ever, as it
// does on EKS when the controller is destroyed first.
//
// EKS Auto Mode's built-in controller does the same for the Ingresses of an IngressClass whose
// controller is eks.amazonaws.com/alb, while the world's cluster has elastic load balancing
// enabled, reading the class's IngressClassParams (eks.amazonaws.com/v1): it fails the test on
// an Ingress whose class has no parameters with the scheme, subnets and certificate, or with
// an annotation Auto Mode does not support (EKS User Guide, "Create an IngressClass to
// configure an Application Load Balancer": kubernetes.io/ingress.class, group.name,
// waf-acl-id, web-acl-id, shield-advanced-protection). The user guide names no finalizer of
// the built-in controller; the stand-in uses the upstream controller's, whose rule (the ALB
// deleted before the finalizer goes) the built-in one, derived from it, keeps.
func (s *Standins) loadBalancerController() error {
	ready, err := s.deploymentReady("aws-load-balancer-controller")
	if err != nil {
		return err
	}
	auto, err := s.autoMode()
	if err != nil {
		return err
	}
	ingresses, err := s.list("/apis/networking.k8s.io/v1/ingresses")
	if err != nil {
		return err
	}
	if !ready && !auto.loadBalancing { // Auto Mode's controller lives as long as the cluster
		if err := s.orphanedIngresses(ingresses); err != nil {
			return err
		}
	}
	for _, ing := range ingresses {
		switch controller, err := s.ingressController(str(ing, "spec", "ingressClassName")); {
		case err != nil:
			return err
		case controller == LoadBalancerControllerName && ready:
		case controller == AutoModeALBController && auto.loadBalancing:
			if msg := s.autoModeIngress(ing); msg != "" {
				s.fail(msg)
				return nil
			}
		default:
			continue
		}
		path := objectPath("/apis/networking.k8s.io/v1", "ingresses", ing)
		fins := finalizers(ing)
		if meta(ing)["deletionTimestamp"] != nil {
			if hasString(fins, IngressFinalizer) {
				if _, err := s.cluster.Do(http.MethodPatch, path, Object{"metadata": Object{"finalizers": without(fins, IngressFinalizer)}}); err != nil {
					return err
				}
				s.logf("load balancer controller: ALB of %s deleted, finalizer removed", nameOf(ing))
			}
			continue
		}
		if !hasString(fins, IngressFinalizer) {
			if _, err := s.cluster.Do(http.MethodPatch, path, Object{"metadata": Object{"finalizers": append(fins, IngressFinalizer)}}); err != nil {
				return err
			}
		}
		m := meta(ing)
		s.reconcileWAF(ing)
		hostname := answers.ALBHostname(s.region, fmt.Sprint(m["namespace"]), fmt.Sprint(m["name"]))
		status, _ := ing["status"].(Object)
		lb, _ := status["loadBalancer"].(Object)
		if list, _ := lb["ingress"].([]any); len(list) == 1 && str(list[0].(Object), "hostname") == hostname {
			continue
		}
		if _, err := s.cluster.Do(http.MethodPatch, path+"/status", Object{"status": Object{"loadBalancer": Object{
			"ingress": []any{Object{"hostname": hostname}}}}}); err != nil {
			return err
		}
		s.logf("load balancer controller: ALB %s made for %s", hostname, nameOf(ing))
	}
	return nil
}

// orphanedIngresses fails the test when an Ingress of class alb is being deleted with the
// controller's finalizer while no controller Deployment exists: nothing will ever remove the
// finalizer, so the delete (and the namespace's) would hang until its timeout.
func (s *Standins) orphanedIngresses(ingresses []Object) error {
	ds, err := s.list("/apis/apps/v1/deployments?labelSelector=app.kubernetes.io/name%3Daws-load-balancer-controller")
	if err != nil || len(ds) > 0 {
		return err // still there (starting or rolling): it will reconcile
	}
	for _, ing := range ingresses {
		if str(ing, "spec", "ingressClassName") == "alb" && meta(ing)["deletionTimestamp"] != nil && hasString(finalizers(ing), IngressFinalizer) {
			s.fail(fmt.Sprintf("Ingress %s is being deleted and keeps the finalizer %s, but the AWS Load Balancer Controller "+
				"is gone: nothing will ever remove it (the ALB Ingress must be deleted before the controller)", nameOf(ing), IngressFinalizer))
		}
	}
	return nil
}

// wafAnnotation names the web ACL the controller associates with an Ingress's ALB.
const wafAnnotation = "alb.ingress.kubernetes.io/wafv2-acl-arn"

// reconcileWAF associates the ALB with the web ACL the Ingress names, as the controller does
// (docs/guide/ingress/annotations.md, wafv2-acl-arn): an ARN associates that ACL, "none"
// removes any association, and an absent or empty annotation leaves the ALB's association as
// it is, whatever it was before.
func (s *Standins) reconcileWAF(ing Object) {
	value := str(meta(ing), "annotations", wafAnnotation)
	if value == "" {
		return
	}
	if value == "none" {
		value = ""
	}
	s.mu.Lock()
	if s.wafs == nil {
		s.wafs = map[string]string{}
	}
	changed := s.wafs[nameOf(ing)] != value
	s.wafs[nameOf(ing)] = value
	s.mu.Unlock()
	if changed {
		s.logf("load balancer controller: web ACL of the ALB of %s is now %q", nameOf(ing), value)
	}
}

// WebACL is the web ACL associated with the ALB of the Ingress namespace/name ("" for none).
func (s *Standins) WebACL(namespace, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wafs[namespace+"/"+name]
}

// The IngressClass controllers: the AWS Load Balancer Controller's (its chart's
// templates/ingressclass.yaml) and EKS Auto Mode's.
const (
	LoadBalancerControllerName = "ingress.k8s.aws/alb"
	AutoModeALBController      = "eks.amazonaws.com/alb"
)

// ingressController is the controller of an IngressClass; the controller's chart's class alb
// is the controller's even before (or after) its IngressClass exists.
func (s *Standins) ingressController(class string) (string, error) {
	ic, err := s.cluster.Do(http.MethodGet, "/apis/networking.k8s.io/v1/ingressclasses/"+class, nil)
	switch {
	case isNotFound(err) && class == "alb":
		return LoadBalancerControllerName, nil
	case isNotFound(err):
		return "", nil
	case err != nil:
		return "", err
	}
	return str(ic, "spec", "controller"), nil
}

// autoModeIngress checks an Ingress of an Auto Mode class, returning why the built-in
// controller would not make its ALB as the program means.
func (s *Standins) autoModeIngress(ing Object) string {
	for _, a := range []string{"kubernetes.io/ingress.class", "alb.ingress.kubernetes.io/group.name", "alb.ingress.kubernetes.io/waf-acl-id",
		"alb.ingress.kubernetes.io/web-acl-id", "alb.ingress.kubernetes.io/shield-advanced-protection"} {
		if v := str(meta(ing), "annotations", a); v != "" {
			return fmt.Sprintf("Ingress %s carries %s, which EKS Auto Mode does not support", nameOf(ing), a)
		}
	}
	class, err := s.cluster.Do(http.MethodGet, "/apis/networking.k8s.io/v1/ingressclasses/"+str(ing, "spec", "ingressClassName"), nil)
	if err != nil {
		return fmt.Sprintf("Ingress %s: its IngressClass: %v", nameOf(ing), err)
	}
	if str(class, "spec", "parameters", "apiGroup") != "eks.amazonaws.com" || str(class, "spec", "parameters", "kind") != "IngressClassParams" {
		return fmt.Sprintf("IngressClass %v has no eks.amazonaws.com IngressClassParams: the ALB would be internal, with no certificate", meta(class)["name"])
	}
	params, err := s.cluster.Do(http.MethodGet, "/apis/eks.amazonaws.com/v1/ingressclassparams/"+str(class, "spec", "parameters", "name"), nil)
	if err != nil {
		return fmt.Sprintf("IngressClass %v: its IngressClassParams: %v", meta(class)["name"], err)
	}
	spec, _ := params["spec"].(Object)
	subnets, _ := spec["subnets"].(Object)
	ids, _ := subnets["ids"].([]any)
	certs, _ := spec["certificateARNs"].([]any)
	if spec["scheme"] != "internet-facing" || len(ids) == 0 || len(certs) == 0 {
		return fmt.Sprintf("IngressClassParams %v: want an internet-facing scheme, the public subnets and the certificate, got %v", meta(params)["name"], spec)
	}
	return ""
}
