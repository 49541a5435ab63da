//! cri-client: a minimal crictl-like CRI v1 client for the tests (crictl is not packaged in
//! Debian 12). It talks to containerd's CRI plugin over its unix socket, exactly as the kubelet
//! does. Configs are JSON files in the shape of the CRI messages (see integration/cri/*.json).
//!
//!   cri-client [--endpoint SOCK] COMMAND ...     (default endpoint: $CRI_ENDPOINT or
//!                                                 /run/containerd/containerd.sock)
//!   version | status | images
//!   runp [--runtime HANDLER] POD.json            -> prints the pod sandbox id
//!   inspectp POD_ID | pods
//!   create POD_ID CONTAINER.json POD.json        -> prints the container id
//!   start ID | stop ID [TIMEOUT_S] | rm ID | inspect ID | ps [POD_ID]
//!   wait ID SECONDS                              -> waits (bounded) until exited, prints exit code
//!   stopp POD_ID | rmp POD_ID
//!
//! Every RPC is bounded by a 60 s deadline; errors go to stderr with exit code 1.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use integration::cri::*;

const USAGE: &str = "usage: cri-client [--endpoint SOCK] \
(version|status|images|runp [--runtime H] POD.json|inspectp ID|pods|create POD_ID CTR.json POD.json|\
start ID|stop ID [T]|rm ID|inspect ID|ps [POD_ID]|wait ID SECS|stopp ID|rmp ID)";

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(std::env::args().skip(1).collect())) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("cri-client: {e}");
            std::process::exit(1);
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?)
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn arg(args: &[String], i: usize) -> Result<&str> {
    args.get(i).map(|s| s.as_str()).ok_or_else(|| USAGE.into())
}

async fn run(mut args: Vec<String>) -> Result<()> {
    let mut endpoint = std::env::var_os("CRI_ENDPOINT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/containerd/containerd.sock"));
    if args.first().map(|s| s.as_str()) == Some("--endpoint") {
        endpoint = PathBuf::from(arg(&args, 1)?);
        args.drain(..2);
    }
    let cmd = arg(&args, 0)?.to_string();
    let mut c = tokio::time::timeout(Duration::from_secs(10), Client::connect(&endpoint))
        .await
        .map_err(|_| format!("connect {}: timed out", endpoint.display()))?
        .map_err(|e| format!("connect {}: {e}", endpoint.display()))?;
    tokio::time::timeout(Duration::from_secs(60), command(&mut c, &cmd, &args[1..]))
        .await
        .map_err(|_| format!("{cmd}: timed out after 60 s"))?
}

async fn command(c: &mut Client, cmd: &str, a: &[String]) -> Result<()> {
    match cmd {
        "version" => {
            let r: VersionResponse = c
                .runtime(
                    "Version",
                    VersionRequest {
                        version: "v1".into(),
                    },
                )
                .await?;
            print_json(&r)
        }
        "status" => {
            let r: StatusResponse = c
                .runtime("Status", StatusRequest { verbose: false })
                .await?;
            print_json(&r)
        }
        "images" => {
            let r: ListImagesResponse = c.image("ListImages", ListImagesRequest::default()).await?;
            print_json(&r)
        }
        "runp" => {
            let (handler, file) = if arg(a, 0)? == "--runtime" {
                (arg(a, 1)?.to_string(), arg(a, 2)?)
            } else {
                (String::new(), arg(a, 0)?)
            };
            let config: PodSandboxConfig = read_json(file)?;
            let r: RunPodSandboxResponse = c
                .runtime(
                    "RunPodSandbox",
                    RunPodSandboxRequest {
                        config: Some(config),
                        runtime_handler: handler,
                    },
                )
                .await?;
            println!("{}", r.pod_sandbox_id);
            Ok(())
        }
        "inspectp" => {
            let req = PodSandboxIdRequest {
                pod_sandbox_id: arg(a, 0)?.into(),
                verbose: true,
            };
            let r: PodSandboxStatusResponse = c.runtime("PodSandboxStatus", req).await?;
            print_json(&r)
        }
        "pods" => {
            let r: ListPodSandboxResponse = c
                .runtime("ListPodSandbox", ListPodSandboxRequest::default())
                .await?;
            print_json(&r)
        }
        "create" => {
            let req = CreateContainerRequest {
                pod_sandbox_id: arg(a, 0)?.into(),
                config: Some(read_json(arg(a, 1)?)?),
                sandbox_config: Some(read_json(arg(a, 2)?)?),
            };
            let r: CreateContainerResponse = c.runtime("CreateContainer", req).await?;
            println!("{}", r.container_id);
            Ok(())
        }
        "start" => {
            let req = ContainerIdRequest {
                container_id: arg(a, 0)?.into(),
                verbose: false,
            };
            let _: Empty = c.runtime("StartContainer", req).await?;
            Ok(())
        }
        "stop" => {
            let timeout = a.get(1).map(|t| t.parse()).transpose()?.unwrap_or(10);
            let req = StopContainerRequest {
                container_id: arg(a, 0)?.into(),
                timeout,
            };
            let _: Empty = c.runtime("StopContainer", req).await?;
            Ok(())
        }
        "rm" => {
            let req = ContainerIdRequest {
                container_id: arg(a, 0)?.into(),
                verbose: false,
            };
            let _: Empty = c.runtime("RemoveContainer", req).await?;
            Ok(())
        }
        "inspect" => {
            let req = ContainerIdRequest {
                container_id: arg(a, 0)?.into(),
                verbose: true,
            };
            let r: ContainerStatusResponse = c.runtime("ContainerStatus", req).await?;
            print_json(&r)
        }
        "ps" => {
            let filter = a.first().map(|p| ContainerFilter {
                id: String::new(),
                pod_sandbox_id: p.clone(),
            });
            let r: ListContainersResponse = c
                .runtime("ListContainers", ListContainersRequest { filter })
                .await?;
            print_json(&r)
        }
        "wait" => {
            let id = arg(a, 0)?.to_string();
            let secs: u64 = arg(a, 1)?.parse()?;
            let deadline = Instant::now() + Duration::from_secs(secs.min(50));
            loop {
                let req = ContainerIdRequest {
                    container_id: id.clone(),
                    verbose: false,
                };
                let r: ContainerStatusResponse = c.runtime("ContainerStatus", req).await?;
                let st = r.status.ok_or("no status")?;
                if st.state == 2 {
                    println!("{}", st.exit_code);
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "container {id} still in state {} after {secs} s",
                        st.state
                    )
                    .into());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        "stopp" => {
            let req = PodSandboxIdRequest {
                pod_sandbox_id: arg(a, 0)?.into(),
                verbose: false,
            };
            let _: Empty = c.runtime("StopPodSandbox", req).await?;
            Ok(())
        }
        "rmp" => {
            let req = PodSandboxIdRequest {
                pod_sandbox_id: arg(a, 0)?.into(),
                verbose: false,
            };
            let _: Empty = c.runtime("RemovePodSandbox", req).await?;
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}
