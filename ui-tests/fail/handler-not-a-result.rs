use winddown::handler;

#[handler]
async fn get_user(id: u32) -> u32 {
    id
}

fn main() {}
