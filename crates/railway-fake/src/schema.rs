//! The subset of Railway's GraphQL schema the fake serves: object types, their fields, each field's type and
//! required arguments. Used to validate a document before anything runs, as a real server does.

/// A field's type: a scalar (leaf) or an object type that needs a selection of subfields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    /// A leaf, e.g. `String`, `Boolean!`, `Int`.
    Scalar(&'static str),
    /// An object type by name.
    Object(&'static str),
}

/// One field of an object type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldDef {
    pub name: &'static str,
    pub ty: FieldType,
    /// Arguments: name and whether it is required (`String!`). All arguments here are strings.
    pub args: &'static [(&'static str, bool)],
}

const fn scalar(name: &'static str, ty: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty: FieldType::Scalar(ty),
        args: &[],
    }
}

const fn object(name: &'static str, ty: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty: FieldType::Object(ty),
        args: &[],
    }
}

const QUERY: &[FieldDef] = &[
    object("me", "User"),
    object("projects", "ProjectConnection"),
    FieldDef {
        name: "project",
        ty: FieldType::Object("Project"),
        args: &[("id", true)],
    },
    FieldDef {
        name: "volume",
        ty: FieldType::Object("Volume"),
        args: &[("id", true)],
    },
];

const MUTATION: &[FieldDef] = &[FieldDef {
    name: "volumeDelete",
    ty: FieldType::Scalar("Boolean!"),
    args: &[("volumeId", true)],
}];

const USER: &[FieldDef] = &[
    scalar("id", "String!"),
    scalar("name", "String"),
    scalar("email", "String!"),
];

const PROJECT: &[FieldDef] = &[
    scalar("id", "String!"),
    scalar("name", "String!"),
    scalar("createdAt", "DateTime!"),
    object("environments", "EnvironmentConnection"),
    object("volumes", "VolumeConnection"),
];

const ENVIRONMENT: &[FieldDef] = &[scalar("id", "String!"), scalar("name", "String!")];

const VOLUME: &[FieldDef] = &[
    scalar("id", "String!"),
    scalar("name", "String!"),
    scalar("projectId", "String!"),
    scalar("createdAt", "DateTime!"),
    // This fake's own field: the rows of the volume's `customers` table.
    scalar("rowCount", "Int"),
    object("project", "Project"),
    object("volumeInstances", "VolumeInstanceConnection"),
];

const VOLUME_INSTANCE: &[FieldDef] = &[
    scalar("id", "String!"),
    scalar("environmentId", "String!"),
    scalar("mountPath", "String!"),
    scalar("state", "VolumeState"),
];

const PROJECT_CONNECTION: &[FieldDef] = &[object("edges", "ProjectEdge")];
const PROJECT_EDGE: &[FieldDef] = &[object("node", "Project")];
const ENVIRONMENT_CONNECTION: &[FieldDef] = &[object("edges", "EnvironmentEdge")];
const ENVIRONMENT_EDGE: &[FieldDef] = &[object("node", "Environment")];
const VOLUME_CONNECTION: &[FieldDef] = &[object("edges", "VolumeEdge")];
const VOLUME_EDGE: &[FieldDef] = &[object("node", "Volume")];
const VOLUME_INSTANCE_CONNECTION: &[FieldDef] = &[object("edges", "VolumeInstanceEdge")];
const VOLUME_INSTANCE_EDGE: &[FieldDef] = &[object("node", "VolumeInstance")];

/// The fields of object type `name`; `None` for a type the schema does not have.
pub(crate) fn fields_of(name: &str) -> Option<&'static [FieldDef]> {
    Some(match name {
        "Query" => QUERY,
        "Mutation" => MUTATION,
        "User" => USER,
        "Project" => PROJECT,
        "Environment" => ENVIRONMENT,
        "Volume" => VOLUME,
        "VolumeInstance" => VOLUME_INSTANCE,
        "ProjectConnection" => PROJECT_CONNECTION,
        "ProjectEdge" => PROJECT_EDGE,
        "EnvironmentConnection" => ENVIRONMENT_CONNECTION,
        "EnvironmentEdge" => ENVIRONMENT_EDGE,
        "VolumeConnection" => VOLUME_CONNECTION,
        "VolumeEdge" => VOLUME_EDGE,
        "VolumeInstanceConnection" => VOLUME_INSTANCE_CONNECTION,
        "VolumeInstanceEdge" => VOLUME_INSTANCE_EDGE,
        _ => return None,
    })
}

/// Field `field` of object type `type_name`.
pub(crate) fn field(type_name: &str, field: &str) -> Option<&'static FieldDef> {
    fields_of(type_name)?.iter().find(|f| f.name == field)
}
