namespace Luffy.Trainer.Training;

/// <summary>One test problem with the model's greedy answer.</summary>
public sealed record Example(int Level, string Prompt, string Response, bool Correct);
