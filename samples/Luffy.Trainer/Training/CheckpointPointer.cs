namespace Luffy.Trainer.Training;

/// <summary>The commit pointer of a run folder: which checkpoint folder is the last complete one, and its manifest's SHA-256.</summary>
public sealed record CheckpointPointer(string Folder, string ManifestSha256);
