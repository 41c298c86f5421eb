//! The operation of a create record in plain words.

use picket_model::Operation;
use picket_protocol::{CreateDisposition, CreateResult};

/// Create vs open, from what the file system did (`IoStatus.Information`), falling back on
/// what was asked (`CreateDisposition`) for a result code this version does not know.
///
/// A superseded or overwritten file is reported as `create`: its old content is gone and a
/// new file stands in its place, which is what rules about dropped files want to see. The
/// exact result stays in the event's details.
#[must_use]
pub fn create_operation(disposition: CreateDisposition, result: CreateResult) -> Operation {
    match result {
        CreateResult::Created | CreateResult::Superseded | CreateResult::Overwritten => {
            Operation::Create
        }
        CreateResult::Opened | CreateResult::Exists | CreateResult::DoesNotExist => Operation::Open,
        CreateResult::Other(_) => match disposition {
            CreateDisposition::Create
            | CreateDisposition::Supersede
            | CreateDisposition::Overwrite => Operation::Create,
            _ => Operation::Open,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_decides_and_disposition_is_the_fallback() {
        use CreateDisposition as D;
        use CreateResult as R;
        assert_eq!(create_operation(D::OpenIf, R::Created), Operation::Create);
        assert_eq!(create_operation(D::OpenIf, R::Opened), Operation::Open);
        assert_eq!(
            create_operation(D::OverwriteIf, R::Overwritten),
            Operation::Create
        );
        assert_eq!(
            create_operation(D::Supersede, R::Superseded),
            Operation::Create
        );
        assert_eq!(create_operation(D::Create, R::Other(9)), Operation::Create);
        assert_eq!(create_operation(D::Open, R::Other(9)), Operation::Open);
    }
}
