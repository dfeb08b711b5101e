using Luffy.Objectives.Batching;
using Luffy.Objectives.Tokens;
using Luffy.Trainer.Model;
using static TorchSharp.torch;

namespace Luffy.Trainer.Training;

/// <summary>Log-probs and entropies of a batch's response tokens under the model.</summary>
public static class PolicyForward
{
    public static TokenStatisticsResult ResponseStatistics(TinyTransformer model, TrainingBatch batch)
    {
        using var scope = NewDisposeScope();
        Tensor logits = model.Forward(batch.InputIds, batch.PositionIds, batch.AttentionMask);
        Tensor responseLogits = logits.narrow(1, batch.PromptLength - 1, batch.ResponseLength);
        TokenStatisticsResult stats = TokenStatistics.Compute(responseLogits, batch.ResponseIds());
        stats.LogProbs.MoveToOuterDisposeScope();
        stats.Entropy.MoveToOuterDisposeScope();
        return stats;
    }
}
