-- CreateEnum
CREATE TYPE "HoldStatus" AS ENUM ('ACTIVE', 'PURCHASED', 'EXPIRED');

-- AlterTable
ALTER TABLE "ticket_tiers" ADD COLUMN     "held" INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "tickets" ADD COLUMN     "cancelled_at" TIMESTAMPTZ(3),
ADD COLUMN     "order_id" UUID;

-- CreateTable
CREATE TABLE "holds" (
    "id" UUID NOT NULL,
    "tier_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "quantity" INTEGER NOT NULL,
    "status" "HoldStatus" NOT NULL DEFAULT 'ACTIVE',
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "holds_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "orders" (
    "id" UUID NOT NULL,
    "buyer_id" UUID NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "request_hash" TEXT NOT NULL,
    "total_cents" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "orders_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "event_allowances" (
    "event_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "tickets" INTEGER NOT NULL,

    CONSTRAINT "event_allowances_pkey" PRIMARY KEY ("event_id","user_id")
);

-- CreateIndex
CREATE INDEX "holds_status_expires_at_idx" ON "holds"("status", "expires_at");

-- CreateIndex
CREATE INDEX "holds_tier_id_status_idx" ON "holds"("tier_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "orders_buyer_id_idempotency_key_key" ON "orders"("buyer_id", "idempotency_key");

-- CreateIndex
CREATE INDEX "tickets_order_id_idx" ON "tickets"("order_id");

-- AddForeignKey
ALTER TABLE "tickets" ADD CONSTRAINT "tickets_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "orders"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "holds" ADD CONSTRAINT "holds_tier_id_fkey" FOREIGN KEY ("tier_id") REFERENCES "ticket_tiers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Not expressible in schema.prisma (added to the generated migration): stock can never be
-- oversold or negative, whatever writes the row.
ALTER TABLE "ticket_tiers" ADD CONSTRAINT "ticket_tiers_stock"
  CHECK ("sold" >= 0 AND "held" >= 0 AND "sold" + "held" <= "capacity");
ALTER TABLE "ticket_tiers" ADD CONSTRAINT "ticket_tiers_limits"
  CHECK ("capacity" >= 0 AND "max_per_order" >= 1 AND "price_cents" >= 0);
ALTER TABLE "holds" ADD CONSTRAINT "holds_quantity" CHECK ("quantity" > 0);
ALTER TABLE "event_allowances" ADD CONSTRAINT "event_allowances_tickets" CHECK ("tickets" >= 0);
