using Luffy.Objectives.Batching;
using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Tokens;

/// <summary>
/// Token log-probs and next-token entropies from logits of shape (B, T, V): B sequences, T positions,
/// V vocabulary entries. Results are differentiable with respect to the logits. <see cref="ForResponses"/> and
/// <see cref="FromHiddenStatesForResponses"/> take a model's full-sequence output and a <see cref="TrainingBatch"/> and
/// return the statistics of its response tokens, aligned with the loss's (B, T) tensors. Token ids are checked against
/// V with one read of their minimum and maximum from the device, unless they were checked where they were made: a
/// batch built with <c>BatchBuilderOptions.VocabularySize</c> ≤ V, or <c>checkTokenIds: false</c>. With that, the
/// path from logits to the loss reads nothing back from the device.
/// </summary>
public static class TokenStatistics
{
    /// <summary>log softmax(logits / τ) at the given token ids.</summary>
    /// <param name="logits">Logits, (B, T, V), floating point. Not disposed.</param>
    /// <param name="tokenIds">Token ids, (B, T), int64 (int32 is converted), each in [0, V).</param>
    /// <param name="temperature">τ &gt; 0 dividing the logits (the sampling temperature). The default is 1.</param>
    /// <returns>A fresh (B, T) tensor in the logits' dtype.</returns>
    /// <exception cref="ArgumentException">Shapes, dtypes or devices disagree, or a token id is outside [0, V).</exception>
    /// <param name="checkTokenIds">Check the ids against V (one read of their minimum and maximum from the device). The default is <see langword="true"/>; pass <see langword="false"/> for ids checked where they were made (an out-of-range id then fails inside libtorch, or as a device assert on CUDA).</param>
    public static Tensor LogProbs(Tensor logits, Tensor tokenIds, double temperature = 1.0, bool checkTokenIds = true)
    {
        Validate(logits, tokenIds, temperature, checkTokenIds);
        using var scope = NewDisposeScope();
        Tensor z = Scaled(logits, temperature);
        Tensor ids = tokenIds.to_type(ScalarType.Int64).unsqueeze(-1);
        return z.log_softmax(-1).gather(-1, ids).squeeze(-1).MoveToOuterDisposeScope();
    }

    /// <summary>Entropy H = logsumexp(z) − Σ softmax(z)·z of the next-token distribution, z = logits / τ, evaluated as −Σ s·log s (no cancellation for large logits).</summary>
    /// <param name="logits">Logits, (B, T, V), floating point. Not disposed.</param>
    /// <param name="temperature">τ &gt; 0. The default is 1.</param>
    /// <returns>A fresh (B, T) tensor in the logits' dtype.</returns>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is not a (B, T, V) floating-point tensor.</exception>
    public static Tensor Entropy(Tensor logits, double temperature = 1.0)
    {
        TensorGuard.Floating(logits, nameof(logits));
        TensorGuard.Rank(logits, nameof(logits), 3, "(B, T, V)");
        TensorGuard.Positive(temperature, nameof(temperature));
        using var scope = NewDisposeScope();
        Tensor z = Scaled(logits, temperature);
        Tensor logSoftmax = z.log_softmax(-1); // −Σ s·log s: no cancellation of large terms for peaked distributions
        return ChunkMath.Entropy(logSoftmax).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Log-probs and entropies together. With <paramref name="chunkSize"/> &gt; 0 the B·T positions are processed
    /// <paramref name="chunkSize"/> at a time in the forward and the backward pass (a custom autograd function), so
    /// the peak extra memory is O(chunkSize·V) rather than O(B·T·V) — the path for large vocabularies.
    /// </summary>
    /// <param name="logits">Logits, (B, T, V), floating point. Not disposed.</param>
    /// <param name="tokenIds">Token ids, (B, T), int64 or int32, each in [0, V).</param>
    /// <param name="chunkSize">Positions per chunk; 0 (the default) computes everything at once with ordinary ops.</param>
    /// <param name="temperature">τ &gt; 0. The default is 1.</param>
    /// <returns>A fresh result owning (B, T) log-probs and entropies in the logits' dtype.</returns>
    /// <exception cref="ArgumentException">Shapes, dtypes or devices disagree.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunkSize"/> is negative or <paramref name="temperature"/> is not positive.</exception>
    /// <param name="checkTokenIds">Check the ids against V (one read of their minimum and maximum from the device). The default is <see langword="true"/>; pass <see langword="false"/> for ids checked where they were made.</param>
    public static TokenStatisticsResult Compute(Tensor logits, Tensor tokenIds, int chunkSize = 0, double temperature = 1.0, bool checkTokenIds = true)
    {
        Validate(logits, tokenIds, temperature, checkTokenIds);
        if (chunkSize < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "chunkSize must be >= 0 (0 = no chunking).");
        }
        using var scope = NewDisposeScope();
        Tensor ids = tokenIds.to_type(ScalarType.Int64);
        if (chunkSize == 0)
        {
            Tensor z = Scaled(logits, temperature);
            Tensor logSoftmax = z.log_softmax(-1);
            Tensor logProbs = logSoftmax.gather(-1, ids.unsqueeze(-1)).squeeze(-1);
            Tensor entropy = ChunkMath.Entropy(logSoftmax);
            return new TokenStatisticsResult(logProbs.MoveToOuterDisposeScope(), entropy.MoveToOuterDisposeScope());
        }
        List<Tensor> outputs = ChunkedTokenStatisticsFunction.apply(logits, ids, (long)chunkSize, temperature);
        return Guarded(outputs, logits, ids);
    }

    /// <summary>
    /// Log-probs and entropies straight from the last hidden states and the output projection (the LM head),
    /// without materializing the (B, T, V) logits in the forward or the backward pass: rows are processed
    /// <paramref name="chunkSize"/> at a time, so the extra memory is O(chunkSize·V) — the path for vocabularies of
    /// 150k. Differentiable with respect to <paramref name="hidden"/> and <paramref name="outputWeight"/>.
    /// </summary>
    /// <param name="hidden">Final hidden states h, (B, T, H), floating point. Not disposed.</param>
    /// <param name="outputWeight">The output projection W, (V, H), the same dtype and device (logits = h·Wᵀ, no bias). Not disposed.</param>
    /// <param name="tokenIds">Token ids, (B, T), int64 or int32, each in [0, V).</param>
    /// <param name="chunkSize">Rows (positions) per chunk, ≥ 1. The default is 1024.</param>
    /// <param name="temperature">τ &gt; 0 dividing the logits. The default is 1.</param>
    /// <returns>A fresh result owning (B, T) log-probs and entropies in the hidden states' dtype.</returns>
    /// <exception cref="ArgumentException">Shapes, dtypes or devices disagree.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunkSize"/> is &lt; 1 or <paramref name="temperature"/> is not positive.</exception>
    /// <param name="checkTokenIds">Check the ids against V (one read of their minimum and maximum from the device). The default is <see langword="true"/>; pass <see langword="false"/> for ids checked where they were made.</param>
    public static TokenStatisticsResult FromHiddenStates(Tensor hidden, Tensor outputWeight, Tensor tokenIds, int chunkSize = 1024, double temperature = 1.0, bool checkTokenIds = true)
    {
        TensorGuard.Floating(hidden, nameof(hidden));
        TensorGuard.Rank(hidden, nameof(hidden), 3, "(B, T, H)");
        TensorGuard.Floating(outputWeight, nameof(outputWeight));
        TensorGuard.Rank(outputWeight, nameof(outputWeight), 2, "(V, H)");
        if (outputWeight.shape[1] != hidden.shape[2])
        {
            throw new ArgumentException(
                $"outputWeight has shape {TensorGuard.Shape(outputWeight)} but hidden has shape {TensorGuard.Shape(hidden)}; outputWeight must be (V, H) with H = hidden.shape[2].", nameof(outputWeight));
        }
        TensorGuard.SameDtype(outputWeight, nameof(outputWeight), hidden, nameof(hidden));
        TensorGuard.SameDevice(outputWeight, nameof(outputWeight), hidden, nameof(hidden));
        TensorGuard.Integral(tokenIds, nameof(tokenIds));
        TensorGuard.Rank(tokenIds, nameof(tokenIds), 2, "(B, T)");
        if (tokenIds.shape[0] != hidden.shape[0] || tokenIds.shape[1] != hidden.shape[1])
        {
            throw new ArgumentException(
                $"tokenIds has shape {TensorGuard.Shape(tokenIds)} but hidden has shape {TensorGuard.Shape(hidden)}; tokenIds must be (B, T) and hidden (B, T, H).", nameof(tokenIds));
        }
        TensorGuard.SameDevice(tokenIds, nameof(tokenIds), hidden, nameof(hidden));
        TensorGuard.Positive(temperature, nameof(temperature));
        if (chunkSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "chunkSize must be >= 1.");
        }
        if (checkTokenIds)
        {
            CheckVocabulary(tokenIds, outputWeight.shape[0]);
        }
        using var scope = NewDisposeScope();
        Tensor ids = tokenIds.to_type(ScalarType.Int64);
        List<Tensor> outputs = ChunkedProjectionStatisticsFunction.apply(hidden, outputWeight, ids, (long)chunkSize, temperature);
        return Guarded(outputs, hidden, outputWeight, ids);
    }

    /// <summary>
    /// The chunked functions' outputs behind the autograd guard (<see cref="AutogradSafety.Guard"/>): modifying an input
    /// in place before backward, or a second backward through a graph that was not retained, is refused with PyTorch's
    /// catchable error before the custom backward runs, as on the unchunked path.
    /// </summary>
    private static TokenStatisticsResult Guarded(List<Tensor> outputs, params Tensor[] inputs) =>
        new(AutogradSafety.Guard(outputs[0], inputs).MoveToOuterDisposeScope(), AutogradSafety.Guard(outputs[1], inputs).MoveToOuterDisposeScope());

    /// <summary>
    /// Log-probs and entropies of a batch's response tokens from the model's logits over the whole sequence: position
    /// P − 1 + t predicts response token t, so the (B, P + T, V) logits are cut to (B, T, V) and the response ids taken
    /// from the batch. Half-precision logits (bfloat16, float16) are computed in float32 when <paramref name="upcast"/> is
    /// set, so that importance ratios of nearby policies are not rounding noise.
    /// </summary>
    /// <param name="logits">The model's logits, (B, P + T, V) for the batch's <see cref="TrainingBatch.InputIds"/>, floating point. Not disposed.</param>
    /// <param name="batch">The batch (P, T and the response ids). Not disposed.</param>
    /// <param name="chunkSize">Positions per chunk (see <see cref="Compute"/>); 0, the default, computes everything at once.</param>
    /// <param name="temperature">τ &gt; 0 dividing the logits. The default is 1.</param>
    /// <param name="upcast">Compute half-precision inputs in float32. The default is <see langword="true"/>.</param>
    /// <returns>A fresh result owning (B, T) log-probs and entropies, aligned with the batch's response mask.</returns>
    /// <exception cref="ArgumentException">The logits do not cover the batch's (B, P + T) positions, or a token id is outside [0, V).</exception>
    public static TokenStatisticsResult ForResponses(Tensor logits, TrainingBatch batch, int chunkSize = 0, double temperature = 1.0, bool upcast = true)
    {
        ArgumentNullException.ThrowIfNull(batch);
        TensorGuard.Floating(logits, nameof(logits));
        TensorGuard.Rank(logits, nameof(logits), 3, "(B, P + T, V)");
        CheckCovers(logits, nameof(logits), "(B, P + T, V)", batch);
        using var scope = NewDisposeScope();
        Tensor response = Upcast(logits.narrow(1, batch.PromptLength - 1, batch.ResponseLength), upcast);
        TokenStatisticsResult result = Compute(response, batch.ResponseIds(), chunkSize, temperature, NeedsIdCheck(batch, logits.shape[2]));
        result.LogProbs.MoveToOuterDisposeScope();
        result.Entropy.MoveToOuterDisposeScope();
        return result;
    }

    /// <summary>
    /// <see cref="ForResponses"/> from the last hidden states and the output projection, chunked so that no (B, T, V)
    /// logits exist (see <see cref="FromHiddenStates"/>): the path for large vocabularies.
    /// </summary>
    /// <param name="hidden">The model's final hidden states, (B, P + T, H) for the batch's <see cref="TrainingBatch.InputIds"/>. Not disposed.</param>
    /// <param name="outputWeight">The output projection W, (V, H), the hidden states' dtype and device. Not disposed.</param>
    /// <param name="batch">The batch. Not disposed.</param>
    /// <param name="chunkSize">Positions per chunk, ≥ 1. The default is 1024.</param>
    /// <param name="temperature">τ &gt; 0 dividing the logits. The default is 1.</param>
    /// <param name="upcast">Compute half-precision inputs in float32. The default is <see langword="true"/>.</param>
    /// <returns>A fresh result owning (B, T) log-probs and entropies, differentiable with respect to the hidden states and W.</returns>
    /// <exception cref="ArgumentException">The hidden states do not cover the batch's positions, shapes disagree, or a token id is outside [0, V).</exception>
    public static TokenStatisticsResult FromHiddenStatesForResponses(Tensor hidden, Tensor outputWeight, TrainingBatch batch, int chunkSize = 1024, double temperature = 1.0, bool upcast = true)
    {
        ArgumentNullException.ThrowIfNull(batch);
        TensorGuard.Floating(hidden, nameof(hidden));
        TensorGuard.Rank(hidden, nameof(hidden), 3, "(B, P + T, H)");
        CheckCovers(hidden, nameof(hidden), "(B, P + T, H)", batch);
        using var scope = NewDisposeScope();
        Tensor response = Upcast(hidden.narrow(1, batch.PromptLength - 1, batch.ResponseLength), upcast);
        TokenStatisticsResult result = FromHiddenStates(response, Upcast(outputWeight, upcast), batch.ResponseIds(), chunkSize, temperature, NeedsIdCheck(batch, outputWeight.shape[0]));
        result.LogProbs.MoveToOuterDisposeScope();
        result.Entropy.MoveToOuterDisposeScope();
        return result;
    }

    /// <summary>A batch built with a vocabulary size no larger than V holds only valid ids: no device read is needed.</summary>
    private static bool NeedsIdCheck(TrainingBatch batch, long vocabulary) => batch.VocabularySize is not { } v || v > vocabulary;

    private static void CheckCovers(Tensor values, string name, string layout, TrainingBatch batch)
    {
        long width = batch.PromptLength + batch.ResponseLength;
        if (values.shape[0] != batch.Count || values.shape[1] != width)
        {
            throw new ArgumentException($"{name} has shape {TensorGuard.Shape(values)} but the batch has B = {batch.Count} sequences of P + T = {batch.PromptLength} + {batch.ResponseLength} = {width} tokens; {name} must be {layout}.", name);
        }
    }

    private static Tensor Upcast(Tensor values, bool upcast) =>
        upcast && values.dtype is ScalarType.BFloat16 or ScalarType.Float16 ? values.to_type(ScalarType.Float32) : values.alias();

    /// <summary>Token ids must index the vocabulary: reads their minimum and maximum (one transfer); names the first bad one.</summary>
    private static void CheckVocabulary(Tensor tokenIds, long vocabulary)
    {
        if (tokenIds.numel() == 0)
        {
            return;
        }
        using var scope = NewDisposeScope();
        long[] range = HostTransfer.Read<long>(stack([tokenIds.min(), tokenIds.max()]).to_type(ScalarType.Int64));
        if (range[0] >= 0 && range[1] < vocabulary)
        {
            return;
        }
        Tensor bad = tokenIds.lt(0).logical_or(tokenIds.ge(vocabulary)).nonzero()[0];
        long[] at = HostTransfer.Read<long>(bad);
        long value = tokenIds[at.Select(i => TensorIndex.Single(i)).ToArray()].to_type(ScalarType.Int64).item<long>();
        throw new ArgumentException($"tokenIds[{string.Join(", ", at)}] is {value}; token ids must be in [0, {vocabulary}), the vocabulary V of the logits.", "tokenIds");
    }

    private static Tensor Scaled(Tensor logits, double temperature) => temperature == 1.0 ? logits.alias() : logits / temperature;

    private static void Validate(Tensor logits, Tensor tokenIds, double temperature, bool checkTokenIds)
    {
        TensorGuard.Floating(logits, nameof(logits));
        TensorGuard.Rank(logits, nameof(logits), 3, "(B, T, V)");
        TensorGuard.Integral(tokenIds, nameof(tokenIds));
        TensorGuard.Rank(tokenIds, nameof(tokenIds), 2, "(B, T)");
        if (tokenIds.shape[0] != logits.shape[0] || tokenIds.shape[1] != logits.shape[1])
        {
            throw new ArgumentException(
                $"tokenIds has shape {TensorGuard.Shape(tokenIds)} but logits has shape {TensorGuard.Shape(logits)}; tokenIds must be (B, T) and logits (B, T, V).", nameof(tokenIds));
        }
        TensorGuard.SameDevice(tokenIds, nameof(tokenIds), logits, nameof(logits));
        TensorGuard.Positive(temperature, nameof(temperature));
        if (checkTokenIds)
        {
            CheckVocabulary(tokenIds, logits.shape[2]);
        }
    }
}
