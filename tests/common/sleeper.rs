//! A one-method gRPC service, `test.Sleeper/Sleep`, written as tonic's code generator
//! would write it (no protoc needed): the server for the fixture, the client for the
//! tests.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tonic::codegen::http;
use tonic_prost::ProstCodec;

pub const PATH: &str = "/test.Sleeper/Sleep";

#[derive(Clone, PartialEq, prost::Message)]
pub struct SleepRequest {
    #[prost(uint64, tag = "1")]
    pub ms: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SleepReply {
    #[prost(uint64, tag = "1")]
    pub slept_ms: u64,
}

/// The server: sleeps `ms`, answers how long it slept.
#[derive(Clone, Default)]
pub struct SleeperServer;

impl tonic::server::NamedService for SleeperServer {
    const NAME: &'static str = "test.Sleeper";
}

struct Sleep;

impl tonic::server::UnaryService<SleepRequest> for Sleep {
    type Response = SleepReply;
    type Future =
        Pin<Box<dyn Future<Output = Result<tonic::Response<SleepReply>, tonic::Status>> + Send>>;
    fn call(&mut self, req: tonic::Request<SleepRequest>) -> Self::Future {
        Box::pin(async move {
            let ms = req.into_inner().ms;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(tonic::Response::new(SleepReply { slept_ms: ms }))
        })
    }
}

impl tower_service::Service<http::Request<Body>> for SleeperServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        Box::pin(async move {
            if req.uri().path() == PATH {
                let mut grpc =
                    tonic::server::Grpc::new(ProstCodec::<SleepReply, SleepRequest>::default());
                Ok(grpc.unary(Sleep, req).await)
            } else {
                Ok(tonic::Status::unimplemented(req.uri().path().to_owned()).into_http())
            }
        })
    }
}

/// The client: one `Sleep` call on `channel`.
pub async fn sleep(channel: tonic::transport::Channel, ms: u64) -> Result<u64, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = http::uri::PathAndQuery::from_static(PATH);
    let reply = grpc
        .unary(
            tonic::Request::new(SleepRequest { ms }),
            path,
            ProstCodec::<SleepRequest, SleepReply>::default(),
        )
        .await?;
    Ok(reply.into_inner().slept_ms)
}
