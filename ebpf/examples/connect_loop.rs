//! Benchmark helper for hack/bench/datapath.sh.
//!   connect_loop serve ADDR SECONDS   accept and close connections for SECONDS
//!   connect_loop run ADDR COUNT        COUNT sequential TCP connects; prints connects/s
use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    time::{Duration, Instant},
};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = a[2].parse().expect("ADDR");
    let n: u64 = a[3].parse().expect("number");
    match a[1].as_str() {
        "serve" => {
            // Blocking accept; a watchdog ends the process after SECONDS.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(n));
                std::process::exit(0);
            });
            let l = TcpListener::bind(addr).unwrap();
            for s in l.incoming() {
                drop(s);
            }
        }
        "run" => {
            let t = Instant::now();
            let mut ok = 0u64;
            for _ in 0..n {
                if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                    ok += 1;
                    // Close with RST (SO_LINGER 0): no TIME_WAIT piling up between rounds.
                    let l = libc::linger { l_onoff: 1, l_linger: 0 };
                    use std::os::fd::AsRawFd;
                    // SAFETY: valid fd and option buffer.
                    unsafe {
                        libc::setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_LINGER,
                            (&l as *const libc::linger).cast(), std::mem::size_of::<libc::linger>() as u32)
                    };
                }
            }
            let secs = t.elapsed().as_secs_f64();
            println!("{:.0} {}", ok as f64 / secs, ok);
        }
        m => panic!("unknown mode {m}"),
    }
}
