//! End-to-end tests on real containers, one binary of many modules: the stack started by
//! testcontainers from locally built images, the compose file, distributed segments, and the
//! Kubernetes manifests.

mod common;
mod compose;
mod k8s;
mod segments;
mod stack;
