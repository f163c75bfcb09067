// CommonJS with a callback, as many older functions are written: the order's total.
exports.handler = (order, context, callback) => {
  const total = (order.items || []).reduce((sum, item) => sum + item.price * item.quantity, 0);
  callback(null, { orderId: order.orderId, total });
};
