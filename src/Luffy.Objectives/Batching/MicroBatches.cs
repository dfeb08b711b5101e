using System.Collections;

namespace Luffy.Objectives.Batching;

/// <summary>
/// The micro-batches of one <see cref="TrainingBatch"/>, in order (what <see cref="MicroBatcher"/> returns). Disposing
/// it disposes every micro-batch, so a loop needs no disposal of its own:
/// <c>using MicroBatches parts = MicroBatcher.ByCount(batch, 8); foreach (MicroBatch m in parts) { ... }</c>.
/// Disposing a single micro-batch earlier (to free its tensors inside the loop) is allowed; disposal is idempotent.
/// </summary>
public sealed class MicroBatches : IReadOnlyList<MicroBatch>, IDisposable
{
    private readonly IReadOnlyList<MicroBatch> parts;

    internal MicroBatches(IReadOnlyList<MicroBatch> parts) => this.parts = parts;

    /// <summary>The number of micro-batches.</summary>
    public int Count => parts.Count;

    /// <summary>The micro-batch at <paramref name="index"/> (in row order).</summary>
    /// <param name="index">0 ≤ index &lt; <see cref="Count"/>.</param>
    public MicroBatch this[int index] => parts[index];

    /// <summary>The micro-batches in row order.</summary>
    public IEnumerator<MicroBatch> GetEnumerator() => parts.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Disposes every micro-batch. Idempotent.</summary>
    public void Dispose()
    {
        foreach (MicroBatch part in parts)
        {
            part.Dispose();
        }
    }
}
