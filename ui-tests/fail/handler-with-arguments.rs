use winddown::handler;

#[handler(timeout = "5s")]
async fn get_user(id: u32) -> Result<u32, winddown::ShuttingDown> {
    Ok(id)
}

fn main() {}
