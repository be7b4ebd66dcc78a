//! `tell_clients_to_leave = false`: no `Connection: close` or GOAWAY from the trigger,
//! as `Builder::tell_clients_to_leave(false)` (a single replica whose clients keep
//! their connections through the drain delay).
use winddown::Service;

#[winddown::service(name = "single-replica", drain_delay = "100ms", tell_clients_to_leave = false)]
async fn main(svc: Service) {
    svc.shutdown().trigger();
}
