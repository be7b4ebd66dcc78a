use winddown::handler;

#[handler]
async fn get_user(id: u32) -> Result<u32, String> {
    Ok(id)
}

fn main() {}
