using Luffy.Objectives.Batching;

namespace Luffy.Trainer.Training;

/// <summary>One training prompt: its tokens, its off-policy trace (if any) and the task's own problem record for the reward.</summary>
public sealed record TaskPrompt(int[] Tokens, OffPolicyTrace? Trace, object Problem);
