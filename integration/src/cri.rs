//! A small, hand-written subset of the Kubernetes CRI v1 API (`runtime.v1`), enough to drive
//! containerd's CRI plugin the way the kubelet does for one pod: run a sandbox, create and start
//! containers in it, read their status, stop and remove everything.
//!
//! The messages are prost structs whose field numbers follow the CRI v1 wire format
//! (k8s.io/cri-api `pkg/apis/runtime/v1`); fields we do not use are simply absent, which
//! protobuf allows in both directions (unknown fields are skipped when decoding). Writing them
//! out avoids a protoc/build-script dependency for the whole workspace. Every struct is also
//! serde (de)serializable with snake_case names, so test configs are JSON files in the shape of
//! the CRI messages (like crictl's pod.json / container.json), and statuses print as JSON.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

macro_rules! msg {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, ::prost::Message, Serialize, Deserialize)]
        #[serde(default)]
        pub struct $name { $($body)* }
    };
}

msg!(
    pub struct VersionRequest {
        #[prost(string, tag = "1")]
        pub version: String,
    }
);
msg!(
    pub struct VersionResponse {
        #[prost(string, tag = "1")]
        pub version: String,
        #[prost(string, tag = "2")]
        pub runtime_name: String,
        #[prost(string, tag = "3")]
        pub runtime_version: String,
        #[prost(string, tag = "4")]
        pub runtime_api_version: String,
    }
);
msg!(
    pub struct DnsConfig {
        #[prost(string, repeated, tag = "1")]
        pub servers: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub searches: Vec<String>,
        #[prost(string, repeated, tag = "3")]
        pub options: Vec<String>,
    }
);
msg!(
    pub struct NamespaceOption {
        /// NamespaceMode: 0 POD, 1 CONTAINER, 2 NODE, 3 TARGET.
        #[prost(int32, tag = "1")]
        pub network: i32,
        #[prost(int32, tag = "2")]
        pub pid: i32,
        #[prost(int32, tag = "3")]
        pub ipc: i32,
        #[prost(string, tag = "4")]
        pub target_id: String,
    }
);
msg!(
    pub struct LinuxSandboxSecurityContext {
        #[prost(message, optional, tag = "1")]
        pub namespace_options: Option<NamespaceOption>,
        #[prost(bool, tag = "4")]
        pub readonly_rootfs: bool,
        #[prost(bool, tag = "6")]
        pub privileged: bool,
    }
);
msg!(
    pub struct LinuxPodSandboxConfig {
        #[prost(string, tag = "1")]
        pub cgroup_parent: String,
        #[prost(message, optional, tag = "2")]
        pub security_context: Option<LinuxSandboxSecurityContext>,
        #[prost(map = "string, string", tag = "3")]
        pub sysctls: HashMap<String, String>,
    }
);
msg!(
    pub struct PodSandboxMetadata {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub uid: String,
        #[prost(string, tag = "3")]
        pub namespace: String,
        #[prost(uint32, tag = "4")]
        pub attempt: u32,
    }
);
msg!(
    pub struct PodSandboxConfig {
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<PodSandboxMetadata>,
        #[prost(string, tag = "2")]
        pub hostname: String,
        #[prost(string, tag = "3")]
        pub log_directory: String,
        #[prost(message, optional, tag = "4")]
        pub dns_config: Option<DnsConfig>,
        #[prost(map = "string, string", tag = "6")]
        pub labels: HashMap<String, String>,
        #[prost(map = "string, string", tag = "7")]
        pub annotations: HashMap<String, String>,
        #[prost(message, optional, tag = "8")]
        pub linux: Option<LinuxPodSandboxConfig>,
    }
);
msg!(
    pub struct RunPodSandboxRequest {
        #[prost(message, optional, tag = "1")]
        pub config: Option<PodSandboxConfig>,
        #[prost(string, tag = "2")]
        pub runtime_handler: String,
    }
);
msg!(
    pub struct RunPodSandboxResponse {
        #[prost(string, tag = "1")]
        pub pod_sandbox_id: String,
    }
);
msg!(
    pub struct PodSandboxIdRequest {
        /// StopPodSandboxRequest / RemovePodSandboxRequest / PodSandboxStatusRequest (+ verbose).
        #[prost(string, tag = "1")]
        pub pod_sandbox_id: String,
        #[prost(bool, tag = "2")]
        pub verbose: bool,
    }
);
msg!(
    pub struct Empty {}
);
msg!(
    pub struct PodIp {
        #[prost(string, tag = "1")]
        pub ip: String,
    }
);
msg!(
    pub struct PodSandboxNetworkStatus {
        #[prost(string, tag = "1")]
        pub ip: String,
        #[prost(message, repeated, tag = "2")]
        pub additional_ips: Vec<PodIp>,
    }
);
msg!(
    pub struct PodSandboxStatus {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(message, optional, tag = "2")]
        pub metadata: Option<PodSandboxMetadata>,
        /// PodSandboxState: 0 SANDBOX_READY, 1 SANDBOX_NOTREADY.
        #[prost(int32, tag = "3")]
        pub state: i32,
        #[prost(int64, tag = "4")]
        pub created_at: i64,
        #[prost(message, optional, tag = "5")]
        pub network: Option<PodSandboxNetworkStatus>,
        #[prost(map = "string, string", tag = "7")]
        pub labels: HashMap<String, String>,
        #[prost(map = "string, string", tag = "8")]
        pub annotations: HashMap<String, String>,
        #[prost(string, tag = "9")]
        pub runtime_handler: String,
    }
);
msg!(
    pub struct PodSandboxStatusResponse {
        #[prost(message, optional, tag = "1")]
        pub status: Option<PodSandboxStatus>,
        #[prost(map = "string, string", tag = "2")]
        pub info: HashMap<String, String>,
    }
);
msg!(
    pub struct PodSandboxFilter {
        #[prost(string, tag = "1")]
        pub id: String,
    }
);
msg!(
    pub struct ListPodSandboxRequest {
        #[prost(message, optional, tag = "1")]
        pub filter: Option<PodSandboxFilter>,
    }
);
msg!(
    pub struct PodSandbox {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(message, optional, tag = "2")]
        pub metadata: Option<PodSandboxMetadata>,
        #[prost(int32, tag = "3")]
        pub state: i32,
        #[prost(int64, tag = "4")]
        pub created_at: i64,
        #[prost(map = "string, string", tag = "5")]
        pub labels: HashMap<String, String>,
        #[prost(map = "string, string", tag = "6")]
        pub annotations: HashMap<String, String>,
        #[prost(string, tag = "7")]
        pub runtime_handler: String,
    }
);
msg!(
    pub struct ListPodSandboxResponse {
        #[prost(message, repeated, tag = "1")]
        pub items: Vec<PodSandbox>,
    }
);
msg!(
    pub struct ImageSpec {
        #[prost(string, tag = "1")]
        pub image: String,
        #[prost(map = "string, string", tag = "2")]
        pub annotations: HashMap<String, String>,
    }
);
msg!(
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }
);
msg!(
    pub struct ContainerMetadata {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(uint32, tag = "2")]
        pub attempt: u32,
    }
);
msg!(
    pub struct LinuxContainerSecurityContext {
        #[prost(bool, tag = "2")]
        pub privileged: bool,
        #[prost(message, optional, tag = "3")]
        pub namespace_options: Option<NamespaceOption>,
        #[prost(bool, tag = "7")]
        pub readonly_rootfs: bool,
    }
);
msg!(
    pub struct LinuxContainerConfig {
        #[prost(message, optional, tag = "2")]
        pub security_context: Option<LinuxContainerSecurityContext>,
    }
);
msg!(
    pub struct ContainerConfig {
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<ContainerMetadata>,
        #[prost(message, optional, tag = "2")]
        pub image: Option<ImageSpec>,
        #[prost(string, repeated, tag = "3")]
        pub command: Vec<String>,
        #[prost(string, repeated, tag = "4")]
        pub args: Vec<String>,
        #[prost(string, tag = "5")]
        pub working_dir: String,
        #[prost(message, repeated, tag = "6")]
        pub envs: Vec<KeyValue>,
        #[prost(map = "string, string", tag = "9")]
        pub labels: HashMap<String, String>,
        #[prost(map = "string, string", tag = "10")]
        pub annotations: HashMap<String, String>,
        #[prost(string, tag = "11")]
        pub log_path: String,
        #[prost(message, optional, tag = "15")]
        pub linux: Option<LinuxContainerConfig>,
    }
);
msg!(
    pub struct CreateContainerRequest {
        #[prost(string, tag = "1")]
        pub pod_sandbox_id: String,
        #[prost(message, optional, tag = "2")]
        pub config: Option<ContainerConfig>,
        #[prost(message, optional, tag = "3")]
        pub sandbox_config: Option<PodSandboxConfig>,
    }
);
msg!(
    pub struct CreateContainerResponse {
        #[prost(string, tag = "1")]
        pub container_id: String,
    }
);
msg!(
    pub struct ContainerIdRequest {
        /// StartContainerRequest / RemoveContainerRequest / ContainerStatusRequest (+ verbose).
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(bool, tag = "2")]
        pub verbose: bool,
    }
);
msg!(
    pub struct StopContainerRequest {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(int64, tag = "2")]
        pub timeout: i64,
    }
);
msg!(
    pub struct ContainerFilter {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, tag = "3")]
        pub pod_sandbox_id: String,
    }
);
msg!(
    pub struct ListContainersRequest {
        #[prost(message, optional, tag = "1")]
        pub filter: Option<ContainerFilter>,
    }
);
msg!(
    pub struct Container {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, tag = "2")]
        pub pod_sandbox_id: String,
        #[prost(message, optional, tag = "3")]
        pub metadata: Option<ContainerMetadata>,
        #[prost(message, optional, tag = "4")]
        pub image: Option<ImageSpec>,
        #[prost(string, tag = "5")]
        pub image_ref: String,
        /// ContainerState: 0 CREATED, 1 RUNNING, 2 EXITED, 3 UNKNOWN.
        #[prost(int32, tag = "6")]
        pub state: i32,
        #[prost(int64, tag = "7")]
        pub created_at: i64,
        #[prost(map = "string, string", tag = "9")]
        pub annotations: HashMap<String, String>,
    }
);
msg!(
    pub struct ListContainersResponse {
        #[prost(message, repeated, tag = "1")]
        pub containers: Vec<Container>,
    }
);
msg!(
    pub struct ContainerStatus {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(message, optional, tag = "2")]
        pub metadata: Option<ContainerMetadata>,
        #[prost(int32, tag = "3")]
        pub state: i32,
        #[prost(int64, tag = "4")]
        pub created_at: i64,
        #[prost(int64, tag = "5")]
        pub started_at: i64,
        #[prost(int64, tag = "6")]
        pub finished_at: i64,
        #[prost(int32, tag = "7")]
        pub exit_code: i32,
        #[prost(message, optional, tag = "8")]
        pub image: Option<ImageSpec>,
        #[prost(string, tag = "9")]
        pub image_ref: String,
        #[prost(string, tag = "10")]
        pub reason: String,
        #[prost(string, tag = "11")]
        pub message: String,
        #[prost(map = "string, string", tag = "13")]
        pub annotations: HashMap<String, String>,
        #[prost(string, tag = "15")]
        pub log_path: String,
    }
);
msg!(
    pub struct ContainerStatusResponse {
        #[prost(message, optional, tag = "1")]
        pub status: Option<ContainerStatus>,
        #[prost(map = "string, string", tag = "2")]
        pub info: HashMap<String, String>,
    }
);
msg!(
    pub struct ImageFilter {
        #[prost(message, optional, tag = "1")]
        pub image: Option<ImageSpec>,
    }
);
msg!(
    pub struct ListImagesRequest {
        #[prost(message, optional, tag = "1")]
        pub filter: Option<ImageFilter>,
    }
);
msg!(
    pub struct Image {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, repeated, tag = "2")]
        pub repo_tags: Vec<String>,
        #[prost(string, repeated, tag = "3")]
        pub repo_digests: Vec<String>,
        #[prost(uint64, tag = "4")]
        pub size: u64,
    }
);
msg!(
    pub struct ListImagesResponse {
        #[prost(message, repeated, tag = "1")]
        pub images: Vec<Image>,
    }
);
msg!(
    pub struct RuntimeCondition {
        #[prost(string, tag = "1")]
        pub r#type: String,
        #[prost(bool, tag = "2")]
        pub status: bool,
        #[prost(string, tag = "3")]
        pub reason: String,
        #[prost(string, tag = "4")]
        pub message: String,
    }
);
msg!(
    pub struct RuntimeStatus {
        #[prost(message, repeated, tag = "1")]
        pub conditions: Vec<RuntimeCondition>,
    }
);
msg!(
    pub struct StatusRequest {
        #[prost(bool, tag = "1")]
        pub verbose: bool,
    }
);
msg!(
    pub struct StatusResponse {
        #[prost(message, optional, tag = "1")]
        pub status: Option<RuntimeStatus>,
    }
);

/// A CRI client over a unix socket (containerd's `/run/containerd/containerd.sock` or a test one).
pub struct Client {
    grpc: tonic::client::Grpc<tonic::transport::Channel>,
}

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

impl Client {
    pub async fn connect(socket: &Path) -> Result<Client> {
        let socket = socket.to_path_buf();
        // The URI is required by the API but unused: every connection goes to the socket.
        let channel = tonic::transport::Endpoint::try_from("http://[::1]:0")?
            .connect_timeout(std::time::Duration::from_secs(5))
            .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                let socket = socket.clone();
                async move {
                    let s = tokio::net::UnixStream::connect(socket).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
                }
            }))
            .await?;
        Ok(Client {
            grpc: tonic::client::Grpc::new(channel),
        })
    }

    async fn call<Req, Resp>(&mut self, service: &str, method: &str, req: Req) -> Result<Resp>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.grpc.ready().await?;
        let path: http::uri::PathAndQuery = format!("/runtime.v1.{service}/{method}").parse()?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let resp = self
            .grpc
            .unary(tonic::Request::new(req), path, codec)
            .await?;
        Ok(resp.into_inner())
    }

    pub async fn runtime<Req, Resp>(&mut self, method: &str, req: Req) -> Result<Resp>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.call("RuntimeService", method, req).await
    }

    pub async fn image<Req, Resp>(&mut self, method: &str, req: Req) -> Result<Resp>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.call("ImageService", method, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn pod_config_json_round_trips_through_protobuf() {
        let cfg: PodSandboxConfig = serde_json::from_str(
            r#"{"metadata":{"name":"p","uid":"u","namespace":"n"},
                "dns_config":{"servers":["198.18.0.2"]},
                "annotations":{"cgfw.io/block":"github.com"}}"#,
        )
        .unwrap();
        let req = RunPodSandboxRequest {
            config: Some(cfg.clone()),
            runtime_handler: "cgfw".into(),
        };
        let back = RunPodSandboxRequest::decode(req.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back.config.unwrap(), cfg);
        assert_eq!(back.runtime_handler, "cgfw");
    }

    #[test]
    fn wire_tags_match_cri_v1() {
        // RunPodSandboxRequest{config(1){annotations(7){"k":"v"}}, runtime_handler(2)="h"}
        let mut cfg = PodSandboxConfig::default();
        cfg.annotations.insert("k".into(), "v".into());
        let req = RunPodSandboxRequest {
            config: Some(cfg),
            runtime_handler: "h".into(),
        };
        let bytes = req.encode_to_vec();
        assert_eq!(
            bytes,
            vec![0x0a, 0x08, 0x3a, 0x06, 0x0a, 0x01, b'k', 0x12, 0x01, b'v', 0x12, 0x01, b'h']
        );
    }
}
