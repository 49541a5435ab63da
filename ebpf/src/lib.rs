//! Placeholder: filled by the ebpf issue.
