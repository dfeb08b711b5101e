using Luffy.Objectives.Batching;
using Luffy.Objectives.Tokens;
using Luffy.Trainer.Model;
using static TorchSharp.torch;

namespace Luffy.Trainer.Training;

/// <summary>Log-probs and entropies of a batch's response tokens under the model.</summary>
public static class PolicyForward
{
    /// <summary>
    /// Response log-probs and entropies, (B, T) each, computed from the hidden states and the output projection in
    /// chunks of <paramref name="chunkSize"/> positions, so the (B, T, V) logits never exist (V = 152k for Qwen2).
    /// </summary>
    public static TokenStatisticsResult ResponseStatistics(CausalLanguageModel model, TrainingBatch batch, int chunkSize = 1024)
    {
        using var scope = NewDisposeScope();
        Tensor hidden = model.HiddenStates(batch.InputIds, batch.PositionIds, batch.AttentionMask);
        Tensor responseHidden = hidden.narrow(1, batch.PromptLength - 1, batch.ResponseLength);
        TokenStatisticsResult stats = TokenStatistics.FromHiddenStates(responseHidden, model.OutputWeight, batch.ResponseIds(), chunkSize);
        stats.LogProbs.MoveToOuterDisposeScope();
        stats.Entropy.MoveToOuterDisposeScope();
        return stats;
    }
}
